//! The GraphQL schema, split by domain.
mod context;
mod customers;
mod errors;
mod events;
mod merchant;
mod paylinks;
mod payment_columns;
mod payments;
mod scalars;
mod subscriptions;

use async_graphql::{MergedObject, Schema, SimpleObject};
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

/// Relay page info.
#[derive(SimpleObject)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub end_cursor: Option<String>,
}

pub fn schema(gw: Option<Gateway>) -> PaygateSchema {
    let builder = Schema::build(
        Query::default(),
        Mutation::default(),
        subscriptions::Subscription,
    )
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
