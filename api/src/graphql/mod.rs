//! The GraphQL schema, split by domain.
mod context;
mod customers;
mod errors;
mod events;
mod in_place;
mod merchant;
mod paylinks;
mod payment_columns;
mod payments;
mod scalars;
mod subscriptions;

use async_graphql::{MergedObject, Schema, SimpleObject, ValidationMode};
use service::Gateway;

pub use context::IdempotencyHeader;
pub use errors::graphql_error;

#[derive(MergedObject, Default)]
pub struct Query(
    merchant::MerchantQuery,
    customers::CustomerQuery,
    payments::PaymentQuery,
    events::EventQuery,
    paylinks::PaylinkQuery,
);

#[derive(MergedObject, Default)]
pub struct Mutation(
    merchant::MerchantMutation,
    customers::CustomerMutation,
    payments::PaymentMutation,
    events::EventMutation,
    paylinks::PaylinkMutation,
);

pub type PaygateSchema = Schema<Query, Mutation, subscriptions::Subscription>;

/// An edge's cursor, a `String!` in the schema: encoded (a time formatted, then base64)
/// only when the query asks for it. Encoding every edge's whether asked or not was about 3 %
/// of `serve`'s CPU on a page of payments (perf, list benchmark).
pub struct EdgeCursor(pub service::page::Cursor);

impl async_graphql::OutputType for EdgeCursor {
    fn type_name() -> std::borrow::Cow<'static, str> {
        <String as async_graphql::OutputType>::type_name()
    }

    fn create_type_info(registry: &mut async_graphql::registry::Registry) -> String {
        <String as async_graphql::OutputType>::create_type_info(registry)
    }

    async fn resolve(
        &self,
        _: &async_graphql::ContextSelectionSet<'_>,
        _: &async_graphql::Positioned<async_graphql::parser::types::Field>,
    ) -> async_graphql::ServerResult<async_graphql::Value> {
        Ok(async_graphql::Value::String(self.0.encode()))
    }
}

/// Relay page info.
#[derive(SimpleObject)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub end_cursor: Option<String>,
}

/// With no extension: `in_place` resolves a page's fields without the hooks one would add.
pub fn schema(gw: Option<Gateway>) -> PaygateSchema {
    build(gw, ValidationMode::Strict)
}

/// The same schema for documents that have passed every validation rule before and declare
/// no variables (`crate::parsed`): what the rules found depends on such a document's text
/// alone, so only async-graphql's fast checks run again (fragment cycles, and the depth and
/// complexity limits). The full rules were 15 % of `serve`'s instructions on a page of
/// payments, 4.5 % after (callgrind, list benchmark).
pub fn validated_schema(gw: Option<Gateway>) -> PaygateSchema {
    build(gw, ValidationMode::Fast)
}

fn build(gw: Option<Gateway>, validation: ValidationMode) -> PaygateSchema {
    let builder = Schema::build(
        Query::default(),
        Mutation::default(),
        subscriptions::Subscription,
    )
    .validation_mode(validation)
    .limit_depth(12)
    .limit_complexity(5_000);
    match gw {
        Some(gw) => builder.data(gw).finish(),
        None => builder.finish(),
    }
}

/// The SDL that `schema.graphql` holds.
pub fn sdl() -> String {
    schema(None).sdl()
}
