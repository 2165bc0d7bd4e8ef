//! Customers and their stored cards.
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{customer, payment_method};
use service::ServiceError;
use service::customers::{self, NewCustomer};
use service::page::PageRequest;

use super::context::{caller, gateway, id_of, idempotent, parse_id};
use super::errors::{UserError, graphql_error, split};
use super::{EdgeCursor, PageInfo};

pub struct Customer(pub customer::Model);

#[Object]
impl Customer {
    async fn id(&self) -> ID {
        id_of(self.0.id)
    }
    async fn email(&self) -> Option<&str> {
        self.0.email.as_deref()
    }
    async fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }
    async fn client_reference(&self) -> Option<&str> {
        self.0.client_reference.as_deref()
    }
    async fn test(&self) -> bool {
        self.0.mode == "test"
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// Stored payment methods and the default one.
    async fn payment_preferences(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<PaymentPreferences> {
        let methods = customers::payment_methods(&gateway(ctx)?.db, self.0.id)
            .await
            .map_err(|e| graphql_error(&e))?;
        Ok(PaymentPreferences { methods })
    }
}

pub struct PaymentPreferences {
    methods: Vec<payment_method::Model>,
}

#[Object]
impl PaymentPreferences {
    async fn payment_methods(&self) -> Vec<PaymentMethod> {
        self.methods.iter().cloned().map(PaymentMethod).collect()
    }
    async fn default_payment_method(&self) -> Option<PaymentMethod> {
        self.methods
            .iter()
            .find(|m| m.is_default)
            .cloned()
            .map(PaymentMethod)
    }
}

/// A stored card: brand, last 4 digits and expiry. The number is never stored.
pub struct PaymentMethod(pub payment_method::Model);

#[Object]
impl PaymentMethod {
    async fn id(&self) -> ID {
        id_of(self.0.id)
    }
    async fn customer_id(&self) -> Option<ID> {
        self.0.customer_id.map(id_of)
    }
    async fn brand(&self) -> &str {
        &self.0.brand
    }
    async fn last4(&self) -> &str {
        &self.0.last4
    }
    async fn exp_month(&self) -> i32 {
        self.0.exp_month
    }
    async fn exp_year(&self) -> i32 {
        self.0.exp_year
    }
    async fn is_default(&self) -> bool {
        self.0.is_default
    }
    async fn expired(&self) -> bool {
        customers::is_expired(&self.0)
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

#[derive(SimpleObject)]
pub struct CustomerEdge {
    pub cursor: EdgeCursor,
    pub node: Customer,
}

#[derive(SimpleObject)]
pub struct CustomerConnection {
    pub edges: Vec<CustomerEdge>,
    pub page_info: PageInfo,
    pub total_count: u64,
}

#[derive(InputObject)]
pub struct CreateCustomerInput {
    pub email: Option<String>,
    pub name: Option<String>,
    pub client_reference: Option<String>,
    pub idempotency_key: Option<String>,
}

#[derive(SimpleObject)]
pub struct CustomerPayload {
    pub customer: Option<Customer>,
    pub errors: Vec<UserError>,
}

#[derive(InputObject)]
pub struct AddTestCardInput {
    pub customer_id: ID,
    /// A test card number (see the README's table). Sent to the acquirer, never stored.
    pub number: String,
    pub exp_month: i32,
    pub exp_year: i32,
    pub idempotency_key: Option<String>,
}

#[derive(InputObject)]
pub struct PaymentMethodInput {
    pub id: ID,
}

#[derive(SimpleObject)]
pub struct PaymentMethodPayload {
    pub payment_method: Option<PaymentMethod>,
    pub errors: Vec<UserError>,
}

#[derive(Default)]
pub struct CustomerQuery;

#[Object]
impl CustomerQuery {
    async fn customer(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Customer> {
        let caller = caller(ctx)?;
        let id = parse_id(&id, "id").map_err(|_| graphql_error(&ServiceError::NotFound))?;
        let c = customers::get(&gateway(ctx)?.db, &caller, id)
            .await
            .map_err(|e| graphql_error(&e))?;
        Ok(Customer(c))
    }

    /// The caller's customers, newest first.
    async fn customers(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<CustomerConnection> {
        let caller = caller(ctx)?;
        let mut page = PageRequest::new(first, after.as_deref()).map_err(|e| graphql_error(&e))?;
        page.with_total = ctx.look_ahead().field("totalCount").exists();
        let page = customers::list(gateway(ctx)?, &caller, page)
            .await
            .map_err(|e| graphql_error(&e))?;
        let end_cursor = page.items.last().map(|(c, _)| c.encode());
        Ok(CustomerConnection {
            edges: page
                .items
                .into_iter()
                .map(|(c, node)| CustomerEdge {
                    cursor: EdgeCursor(c),
                    node: Customer(node),
                })
                .collect(),
            page_info: PageInfo {
                has_next_page: page.has_next_page,
                end_cursor,
            },
            total_count: page.total_count,
        })
    }
}

#[derive(Default)]
pub struct CustomerMutation;

async fn customer_payload(
    ctx: &Context<'_>,
    result: Result<serde_json::Value, ServiceError>,
) -> async_graphql::Result<CustomerPayload> {
    let caller = caller(ctx)?;
    let gw = gateway(ctx)?;
    let result = match result {
        Ok(v) => match v
            .get("customerId")
            .and_then(|s| s.as_str())
            .and_then(|s| s.parse().ok())
        {
            Some(id) => customers::get(&gw.db, &caller, id).await,
            None => Err(ServiceError::Internal(
                "recorded answer has no customer".into(),
            )),
        },
        Err(e) => Err(e),
    };
    let (c, errors) = split(result)?;
    Ok(CustomerPayload {
        customer: c.map(Customer),
        errors,
    })
}

fn method_payload(
    result: Result<payment_method::Model, ServiceError>,
) -> async_graphql::Result<PaymentMethodPayload> {
    let (pm, errors) = split(result)?;
    Ok(PaymentMethodPayload {
        payment_method: pm.map(PaymentMethod),
        errors,
    })
}

#[Object]
impl CustomerMutation {
    async fn create_customer(
        &self,
        ctx: &Context<'_>,
        input: CreateCustomerInput,
    ) -> async_graphql::Result<CustomerPayload> {
        let caller = caller(ctx)?;
        let gw = gateway(ctx)?;
        let new = NewCustomer {
            email: input.email,
            name: input.name,
            client_reference: input.client_reference,
        };
        let result = idempotent(
            ctx,
            input.idempotency_key.as_deref(),
            "createCustomer",
            &new,
            |claim| customers::create_customer(gw, &caller, &new, claim),
        )
        .await;
        customer_payload(ctx, result).await
    }

    /// Test mode only: tokenizes a test card at the acquirer simulator and stores the token.
    async fn add_test_card(
        &self,
        ctx: &Context<'_>,
        input: AddTestCardInput,
    ) -> async_graphql::Result<PaymentMethodPayload> {
        let caller = caller(ctx)?;
        let gw = gateway(ctx)?;
        let customer_id = match parse_id(&input.customer_id, "customerId") {
            Ok(id) => id,
            Err(e) => return method_payload(Err(e)),
        };
        // The idempotency fingerprint never holds the card number, only its last 4 digits.
        let last4: String = input.number.chars().rev().take(4).collect();
        let fingerprint = serde_json::json!({
            "customerId": customer_id, "last4": last4, "len": input.number.len(),
            "expMonth": input.exp_month, "expYear": input.exp_year,
        });
        let result = idempotent(
            ctx,
            input.idempotency_key.as_deref(),
            "addTestCard",
            &fingerprint,
            |_claim| async {
                let pm = customers::add_test_card(
                    gw,
                    &caller,
                    customer_id,
                    &input.number,
                    input.exp_month,
                    input.exp_year,
                )
                .await?;
                Ok(serde_json::json!({ "paymentMethodId": pm.id }))
            },
        )
        .await;
        let result = match result {
            Ok(v) => match v
                .get("paymentMethodId")
                .and_then(|s| s.as_str())
                .and_then(|s| s.parse().ok())
            {
                Some(id) => customers::payment_method(&gw.db, &caller, id).await,
                None => Err(ServiceError::Internal(
                    "recorded answer has no payment method".into(),
                )),
            },
            Err(e) => Err(e),
        };
        method_payload(result)
    }

    async fn set_default_payment_method(
        &self,
        ctx: &Context<'_>,
        input: PaymentMethodInput,
    ) -> async_graphql::Result<PaymentMethodPayload> {
        let caller = caller(ctx)?;
        let gw = gateway(ctx)?;
        let result = match parse_id(&input.id, "id") {
            Ok(id) => customers::set_default(gw, &caller, id).await,
            Err(e) => Err(e),
        };
        method_payload(result)
    }

    async fn remove_payment_method(
        &self,
        ctx: &Context<'_>,
        input: PaymentMethodInput,
    ) -> async_graphql::Result<PaymentMethodPayload> {
        let caller = caller(ctx)?;
        let gw = gateway(ctx)?;
        let result = match parse_id(&input.id, "id") {
            Ok(id) => customers::remove(gw, &caller, id).await,
            Err(e) => Err(e),
        };
        method_payload(result)
    }
}
