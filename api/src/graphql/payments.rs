//! Payments: the object, its ledger and history, the queries and the money mutations.
use async_graphql::parser::types::Field;
use async_graphql::{Context, Enum, ID, InputObject, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{operation, payment, payment_item, status_history};
use service::idempotency::WithRow;
use service::money::ItemInput;
use service::page::PageRequest;
use service::payments::{
    self, ChargeCustomerInput as SvcCharge, CreatePaymentInput as SvcCreate, PaymentFilter,
};
use service::{ServiceError, status};
use uuid::Uuid;

use super::context::{caller, gateway, id_of, idempotent, parse_id};
use super::errors::{UserError, graphql_error, split};
use super::in_place::{InMemory, InPlace, InPlaceList, in_memory};
use super::payment_columns;
use super::scalars::Amount;
use super::{EdgeCursor, PageInfo};

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "service::status::PaymentStatus")]
pub enum PaymentStatus {
    Created,
    PendingCharge,
    PendingExecute,
    Hold,
    PendingCapture,
    Paid,
    PendingRelease,
    Released,
    PendingRefund,
    Refunded,
    Error,
    Blocked,
    Cancelled,
    PendingConfirmation,
    Accepted,
    Declined,
    Sent,
    Viewed,
    Overdue,
    Expired,
    Preauthorized,
    Cleared,
    Settled,
    Chargeback,
}

/// Chip's refund availability.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum RefundAvailability {
    All,
    FullOnly,
    PartialOnly,
    None,
}

impl RefundAvailability {
    fn as_str(&self) -> &'static str {
        match self {
            RefundAvailability::All => "ALL",
            RefundAvailability::FullOnly => "FULL_ONLY",
            RefundAvailability::PartialOnly => "PARTIAL_ONLY",
            RefundAvailability::None => "NONE",
        }
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "service::payments::CaptureMethod")]
pub enum CaptureMethod {
    /// Capture at once: a successful charge is PAID.
    Automatic,
    /// Authorize only: a successful charge is HOLD until captured or released.
    Manual,
}

fn status_of(s: &str) -> async_graphql::Result<PaymentStatus> {
    s.parse::<status::PaymentStatus>()
        .map(Into::into)
        .map_err(|e| graphql_error(&ServiceError::Internal(e)))
}

/// Boxed: a payment is 600 bytes, and a page hands its payments on from row to edge
/// (`service::payments::row::only`).
pub struct Payment(pub Box<payment::Model>);

impl From<payment::Model> for Payment {
    fn from(model: payment::Model) -> Self {
        Payment(Box::new(model))
    }
}

/// A payment's leaf fields read its row (the columns `payment_columns` names); its lists
/// load more by its id.
impl InMemory for Payment {
    fn field_in_memory(field: &Field) -> bool {
        field.selection_set.node.items.is_empty()
            && payment_columns::reads_row(field.name.node.as_str())
    }
}

impl InMemory for PaymentEdge {
    fn field_in_memory(field: &Field) -> bool {
        match field.name.node.as_str() {
            "cursor" => true,
            "node" => in_memory::<Payment>(&field.selection_set.node),
            _ => false,
        }
    }
}

#[Object]
impl Payment {
    async fn id(&self) -> ID {
        id_of(self.0.id)
    }
    async fn status(&self) -> async_graphql::Result<PaymentStatus> {
        status_of(&self.0.status)
    }
    /// The total, VAT included, in minor units.
    async fn amount(&self) -> Amount {
        Amount(self.0.amount)
    }
    async fn vat_amount(&self) -> Amount {
        Amount(self.0.vat_amount)
    }
    /// ISO 4217 code.
    async fn currency(&self) -> &str {
        &self.0.currency
    }
    async fn capture_method(&self) -> CaptureMethod {
        if self.0.capture_method == "MANUAL" {
            CaptureMethod::Manual
        } else {
            CaptureMethod::Automatic
        }
    }
    async fn customer_id(&self) -> Option<ID> {
        self.0.customer_id.map(id_of)
    }
    async fn payment_method_id(&self) -> Option<ID> {
        self.0.payment_method_id.map(id_of)
    }
    async fn client_reference(&self) -> Option<&str> {
        self.0.client_reference.as_deref()
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    async fn metadata(&self) -> Option<Json<serde_json::Value>> {
        self.0.metadata.clone().map(Json)
    }
    async fn authorized_amount(&self) -> Amount {
        Amount(self.0.authorized_amount)
    }
    async fn captured_amount(&self) -> Amount {
        Amount(self.0.captured_amount)
    }
    async fn released_amount(&self) -> Amount {
        Amount(self.0.released_amount)
    }
    async fn refunded_amount(&self) -> Amount {
        Amount(self.0.refunded_amount)
    }
    /// What may still be captured: authorized − captured − released.
    async fn capturable_amount(&self) -> Amount {
        Amount(payments::capturable(&self.0))
    }
    /// What may still be refunded: captured − refunded.
    async fn refundable_amount(&self) -> Amount {
        Amount(payments::refundable(&self.0))
    }
    /// The failed charge's code, e.g. CARD_DECLINED.
    async fn error_code(&self) -> Option<&str> {
        self.0.error_code.as_deref()
    }
    async fn error_message(&self) -> Option<&str> {
        self.0.error_message.as_deref()
    }
    async fn test(&self) -> bool {
        self.0.mode == "test"
    }
    /// For a charge the buyer must accept: the page where they do.
    async fn confirmation_url(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        let base = gateway(ctx)?
            .settings
            .public_url
            .trim_end_matches('/')
            .to_string();
        Ok(self
            .0
            .require_confirmation
            .then(|| format!("{base}/confirm/{}", self.0.id)))
    }
    async fn require_confirmation(&self) -> bool {
        self.0.require_confirmation
    }
    async fn return_url(&self) -> Option<&str> {
        self.0.return_url.as_deref()
    }
    /// Which refunds refundPayment allows.
    async fn refund_availability(&self) -> RefundAvailability {
        match self.0.refund_availability.as_str() {
            "FULL_ONLY" => RefundAvailability::FullOnly,
            "PARTIAL_ONLY" => RefundAvailability::PartialOnly,
            "NONE" => RefundAvailability::None,
            _ => RefundAvailability::All,
        }
    }
    async fn commission_percent(&self) -> Option<i32> {
        self.0.commission_percent
    }
    /// amount × commissionPercent / 100, rounded half up to a minor unit.
    async fn commission_amount(&self) -> Amount {
        Amount(payments::commission(&self.0))
    }
    /// amount − commissionAmount.
    async fn net_amount(&self) -> Amount {
        Amount(self.0.amount - payments::commission(&self.0))
    }
    /// Paid with a remembered card: its id is a recurring token for chargePayment.
    async fn is_recurring_token(&self) -> bool {
        self.0.is_recurring_token
    }
    /// Chip's transaction data: every charge attempt, newest first.
    async fn transaction_data(&self, ctx: &Context<'_>) -> async_graphql::Result<TransactionData> {
        let ops = payments::operations(gateway(ctx)?, self.0.id)
            .await
            .map_err(|e| graphql_error(&e))?;
        let attempts = ops
            .into_iter()
            .rev()
            .filter(|o| o.kind == "CHARGE" || o.kind == "AUTHORIZE")
            .map(|o| ChargeAttempt {
                successful: o.status == "SUCCEEDED",
                pending: o.status == "PENDING",
                error_code: o.error_code,
                error_description: o.error_message,
                amount: Amount(o.amount),
                at: o.created_at,
            })
            .collect();
        Ok(TransactionData { attempts })
    }
    /// The hosted page where a buyer pays it (payments made with createPayment).
    async fn checkout_url(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        let base = gateway(ctx)?
            .settings
            .public_url
            .trim_end_matches('/')
            .to_string();
        Ok(self
            .0
            .checkout_code
            .as_ref()
            .map(|code| format!("{base}/pay/{code}")))
    }
    /// Until when the hosted page takes payment.
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.0.checkout_expires_at
    }
    async fn paylink_id(&self) -> Option<ID> {
        self.0.paylink_id.map(id_of)
    }
    async fn force_recurring(&self) -> bool {
        self.0.force_recurring
    }
    /// When the buyer should have paid: past it the payment is OVERDUE, or EXPIRED when
    /// `dueStrict`.
    async fn due_at(&self) -> Option<DateTime<Utc>> {
        self.0.due_at
    }
    async fn due_strict(&self) -> bool {
        self.0.due_strict
    }
    /// When sendPayment recorded that the invoice link was sent.
    async fn sent_at(&self) -> Option<DateTime<Utc>> {
        self.0.sent_at
    }
    /// When the buyer first opened the hosted page.
    async fn viewed_at(&self) -> Option<DateTime<Utc>> {
        self.0.viewed_at
    }
    /// When the acquirer authorized it (a hold is released automatically some days after).
    async fn authorized_at(&self) -> Option<DateTime<Utc>> {
        self.0.authorized_at
    }
    /// When all of it was captured.
    async fn paid_at(&self) -> Option<DateTime<Utc>> {
        self.0.paid_at
    }
    async fn cleared_at(&self) -> Option<DateTime<Utc>> {
        self.0.cleared_at
    }
    async fn settled_at(&self) -> Option<DateTime<Utc>> {
        self.0.settled_at
    }
    /// What the card holder's bank took back (CHARGEBACK).
    async fn chargeback_amount(&self) -> Amount {
        Amount(self.0.chargeback_amount)
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    async fn items(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<PaymentItem>> {
        let rows = payments::items(gateway(ctx)?, self.0.id)
            .await
            .map_err(|e| graphql_error(&e))?;
        Ok(rows.into_iter().map(PaymentItem).collect())
    }
    /// The ledger of acquirer operations, oldest first.
    async fn operations(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Operation>> {
        let rows = payments::operations(gateway(ctx)?, self.0.id)
            .await
            .map_err(|e| graphql_error(&e))?;
        Ok(rows.into_iter().map(Operation).collect())
    }
    async fn status_history(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<StatusChange>> {
        let rows = payments::status_history(gateway(ctx)?, self.0.id)
            .await
            .map_err(|e| graphql_error(&e))?;
        Ok(rows.into_iter().map(StatusChange).collect())
    }
}

pub struct PaymentItem(pub payment_item::Model);

#[Object]
impl PaymentItem {
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    /// Unit price including VAT.
    async fn unit_price(&self) -> Amount {
        Amount(self.0.unit_price)
    }
    /// Basis points: 2500 = 25 %.
    async fn vat_rate(&self) -> i32 {
        self.0.vat_rate
    }
    async fn quantity(&self) -> i32 {
        self.0.quantity
    }
    async fn client_item_reference(&self) -> Option<&str> {
        self.0.client_item_reference.as_deref()
    }
    async fn total(&self) -> Amount {
        Amount(self.0.total)
    }
    async fn vat_amount(&self) -> Amount {
        Amount(self.0.vat_amount)
    }
}

pub struct Operation(pub operation::Model);

#[Object]
impl Operation {
    async fn id(&self) -> ID {
        id_of(self.0.id)
    }
    /// CHARGE, AUTHORIZE, CAPTURE, RELEASE or REFUND.
    async fn kind(&self) -> &str {
        &self.0.kind
    }
    async fn amount(&self) -> Amount {
        Amount(self.0.amount)
    }
    /// PENDING, SUCCEEDED or FAILED.
    async fn status(&self) -> &str {
        &self.0.status
    }
    async fn acquirer_reference(&self) -> Option<&str> {
        self.0.acquirer_reference.as_deref()
    }
    async fn error_code(&self) -> Option<&str> {
        self.0.error_code.as_deref()
    }
    async fn error_message(&self) -> Option<&str> {
        self.0.error_message.as_deref()
    }
    async fn reason(&self) -> Option<&str> {
        self.0.reason.as_deref()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

pub struct StatusChange(pub status_history::Model);

#[Object]
impl StatusChange {
    async fn status(&self) -> async_graphql::Result<PaymentStatus> {
        status_of(&self.0.status)
    }
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
    async fn reason(&self) -> Option<&str> {
        self.0.reason.as_deref()
    }
    async fn operation_id(&self) -> Option<ID> {
        self.0.operation_id.map(id_of)
    }
}

#[derive(SimpleObject)]
pub struct TransactionData {
    /// Newest first.
    pub attempts: Vec<ChargeAttempt>,
}

#[derive(SimpleObject)]
pub struct ChargeAttempt {
    pub successful: bool,
    pub pending: bool,
    pub error_code: Option<String>,
    pub error_description: Option<String>,
    pub amount: Amount,
    pub at: DateTime<Utc>,
}

#[derive(SimpleObject)]
pub struct PaymentEdge {
    pub cursor: EdgeCursor,
    pub node: InPlace<Payment>,
}

#[derive(SimpleObject)]
pub struct PaymentConnection {
    pub edges: InPlaceList<PaymentEdge>,
    pub page_info: PageInfo,
    pub total_count: u64,
}

#[derive(InputObject)]
pub struct PaymentsFilter {
    pub status: Option<Vec<PaymentStatus>>,
    pub customer_id: Option<ID>,
    pub client_reference: Option<String>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
}

#[derive(InputObject, serde::Serialize)]
pub struct LineItemInput {
    pub name: String,
    pub description: Option<String>,
    /// Unit price including VAT, in minor units.
    pub unit_price: Amount,
    /// VAT rate in basis points: 2500 = 25 %.
    pub vat_rate: i32,
    /// Default 1.
    pub quantity: Option<i32>,
    pub client_item_reference: Option<String>,
}

fn items_of(items: Option<Vec<LineItemInput>>) -> Option<Vec<ItemInput>> {
    items.map(|list| {
        list.into_iter()
            .map(|i| ItemInput {
                name: i.name,
                description: i.description,
                unit_price: i.unit_price.0,
                vat_rate: i.vat_rate,
                quantity: i.quantity,
                client_item_reference: i.client_item_reference,
            })
            .collect()
    })
}

#[derive(InputObject)]
pub struct CreatePaymentInput {
    pub customer_id: Option<ID>,
    /// Until when its hosted page takes payment; default 31 days.
    pub expires_at: Option<DateTime<Utc>>,
    /// Store the card the buyer pays with on the customer (a recurring token).
    #[graphql(default)]
    pub force_recurring: bool,
    /// The total in minor units; or give `items`.
    pub amount: Option<Amount>,
    pub items: Option<Vec<LineItemInput>>,
    pub currency: String,
    #[graphql(default_with = "CaptureMethod::Automatic")]
    pub capture_method: CaptureMethod,
    pub client_reference: Option<String>,
    pub description: Option<String>,
    pub metadata: Option<Json<serde_json::Value>>,
    /// The buyer must accept the charge on its confirmationUrl first (PENDING_CONFIRMATION).
    #[graphql(default)]
    pub require_confirmation: bool,
    /// A single line instead of items or amount: name, price (minor units) and quantity.
    pub name: Option<String>,
    pub price: Option<Amount>,
    pub quantity: Option<i32>,
    /// Where the buyer goes after accepting or declining (`?id=…&type=direct_charge`).
    pub return_url: Option<String>,
    /// The merchant's commission, whole percent 0–100.
    pub commission_percent: Option<i32>,
    /// Which refunds refundPayment allows; default ALL.
    pub refund_availability: Option<RefundAvailability>,
    /// When the buyer should pay by: past it the payment becomes OVERDUE (still payable),
    /// or EXPIRED (not payable) with `dueStrict`.
    pub due_at: Option<DateTime<Utc>>,
    #[graphql(default)]
    pub due_strict: bool,
    pub idempotency_key: Option<String>,
}

#[derive(InputObject)]
pub struct ChargeCustomerInput {
    pub customer_id: ID,
    /// A stored method of the customer; default: the customer's default method.
    pub payment_method_id: Option<ID>,
    pub amount: Option<Amount>,
    pub items: Option<Vec<LineItemInput>>,
    pub currency: String,
    #[graphql(default_with = "CaptureMethod::Automatic")]
    pub capture_method: CaptureMethod,
    pub client_reference: Option<String>,
    pub description: Option<String>,
    pub metadata: Option<Json<serde_json::Value>>,
    /// When no stored card works (none, or declined), answer with the error and a paylink
    /// for the same items and customer, so the buyer adds a card and pays.
    #[graphql(default)]
    pub fallback_to_paylink: bool,
    pub idempotency_key: Option<String>,
}

#[derive(InputObject)]
pub struct AmountInput {
    pub id: ID,
    /// Default: all that remains.
    pub amount: Option<Amount>,
    pub idempotency_key: Option<String>,
}

#[derive(InputObject)]
pub struct RefundPaymentInput {
    pub id: ID,
    /// Default: all that remains refundable.
    pub amount: Option<Amount>,
    pub reason: Option<String>,
    pub idempotency_key: Option<String>,
}

#[derive(InputObject)]
pub struct ChargePaymentInput {
    /// The CREATED payment to charge.
    pub id: ID,
    /// The id of a paid payment whose card was saved (isRecurringToken).
    pub recurring_token: ID,
    pub idempotency_key: Option<String>,
}

#[derive(InputObject)]
pub struct CancelPaymentInput {
    pub id: ID,
    pub idempotency_key: Option<String>,
}

#[derive(SimpleObject)]
pub struct PaymentPayload {
    pub payment: Option<Payment>,
    /// chargeCustomer with fallbackToPaylink: the paylink the buyer can pay instead.
    pub paylink: Option<super::paylinks::Paylink>,
    pub errors: Vec<UserError>,
}

#[derive(Default)]
pub struct PaymentQuery;

#[Object]
impl PaymentQuery {
    async fn payment(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Payment> {
        let caller = caller(ctx)?;
        let id = parse_id(&id, "id").map_err(|_| graphql_error(&ServiceError::NotFound))?;
        let p = payments::get(gateway(ctx)?, &caller, id)
            .await
            .map_err(|e| graphql_error(&e))?;
        Ok(Payment::from(p))
    }

    /// Payments newest first, 20 a page by default, at most 100.
    async fn payments(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<PaymentsFilter>,
    ) -> async_graphql::Result<PaymentConnection> {
        let caller = caller(ctx)?;
        let mut page = PageRequest::new(first, after.as_deref()).map_err(|e| graphql_error(&e))?;
        page.with_total = ctx.look_ahead().field("totalCount").exists();
        let filter = match filter {
            None => PaymentFilter::default(),
            Some(f) => PaymentFilter {
                status: f.status.map(|s| s.into_iter().map(Into::into).collect()),
                customer_id: match f.customer_id {
                    Some(id) => Some(parse_id(&id, "customerId").map_err(|e| graphql_error(&e))?),
                    None => None,
                },
                client_reference: f.client_reference,
                created_after: f.created_after,
                created_before: f.created_before,
            },
        };
        let nodes = ctx.look_ahead().field("edges").field("node");
        let columns = payment_columns::selected(nodes.selection_fields());
        let page = payments::list(gateway(ctx)?, &caller, &filter, page, columns)
            .await
            .map_err(|e| graphql_error(&e))?;
        let end_cursor = page.items.last().map(|(c, _)| c.encode());
        Ok(PaymentConnection {
            edges: InPlaceList(
                page.items
                    .into_iter()
                    .map(|(c, node)| PaymentEdge {
                        cursor: EdgeCursor(c),
                        node: InPlace(Payment(node)),
                    })
                    .collect(),
            ),
            page_info: PageInfo {
                has_next_page: page.has_next_page,
                end_cursor,
            },
            total_count: page.total_count,
        })
    }
}

/// Loads the payment a mutation answered with, whatever its state is now.
/// A payment mutation's answer: the payment the change brought back (as committed), or
/// else the one its recorded answer names, read now.
async fn payload<A: Into<WithRow<entity::payment::Model>>>(
    ctx: &Context<'_>,
    result: Result<A, ServiceError>,
) -> async_graphql::Result<PaymentPayload> {
    let caller = caller(ctx)?;
    let gw = gateway(ctx)?;
    let result = match result.map(Into::into) {
        Ok(WithRow { row: Some(p), .. }) => Ok(p),
        Ok(WithRow { value, row: None }) => match payments::answered_payment(&value) {
            Ok(id) => payments::get(gw, &caller, id).await,
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    let (p, errors) = split(result)?;
    Ok(PaymentPayload {
        payment: p.map(Payment::from),
        paylink: None,
        errors,
    })
}

/// chargeCustomer's answer: the payment, and with the fallback the paylink and the error.
async fn charge_payload(
    ctx: &Context<'_>,
    result: Result<WithRow<entity::payment::Model>, ServiceError>,
) -> async_graphql::Result<PaymentPayload> {
    let value = match result {
        Ok(answer) if answer.value.get("paylinkId").is_some() => answer.value,
        other => {
            // A declined or blocked charge also answers its error in `errors`.
            let mut answer = payload(ctx, other).await?;
            if let Some(p) = &answer.payment
                && answer.errors.is_empty()
                && matches!(p.0.status.as_str(), "ERROR" | "BLOCKED")
            {
                answer.errors.push(UserError {
                    code: p
                        .0
                        .error_code
                        .clone()
                        .unwrap_or_else(|| "PAYMENT_FAILED".into()),
                    field: vec![],
                    message: p
                        .0
                        .error_message
                        .clone()
                        .unwrap_or_else(|| "the charge failed".into()),
                });
            }
            return Ok(answer);
        }
    };
    let caller = caller(ctx)?;
    let gw = gateway(ctx)?;
    let payment = match value
        .get("paymentId")
        .and_then(|s| s.as_str())
        .and_then(|s| s.parse().ok())
    {
        Some(id) => Some(Payment::from(
            payments::get(gw, &caller, id)
                .await
                .map_err(|e| graphql_error(&e))?,
        )),
        None => None,
    };
    let paylink = match value
        .get("paylinkId")
        .and_then(|s| s.as_str())
        .and_then(|s| s.parse().ok())
    {
        Some(id) => Some(super::paylinks::Paylink(
            service::paylinks::get(&gw.db, &caller, id)
                .await
                .map_err(|e| graphql_error(&e))?,
        )),
        None => None,
    };
    let error = &value["error"];
    let errors = vec![UserError {
        code: error["code"]
            .as_str()
            .unwrap_or("PAYMENT_FAILED")
            .to_string(),
        field: error["field"]
            .as_array()
            .map(|f| {
                let path: Vec<String> = f
                    .iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect();
                if path.is_empty() {
                    path
                } else {
                    std::iter::once("input".to_string()).chain(path).collect()
                }
            })
            .unwrap_or_default(),
        message: error["message"]
            .as_str()
            .unwrap_or("the charge failed")
            .to_string(),
    }];
    Ok(PaymentPayload {
        payment,
        paylink,
        errors,
    })
}

/// capturePayment and releasePayment: the same input, the same idempotency, two operations.
#[derive(Clone, Copy)]
enum Movement {
    Capture,
    Release,
}

async fn amount_mutation(
    ctx: &Context<'_>,
    input: AmountInput,
    movement: Movement,
) -> async_graphql::Result<PaymentPayload> {
    let caller = caller(ctx)?;
    let gw = gateway(ctx)?;
    let id = match parse_id(&input.id, "id") {
        Ok(id) => id,
        Err(e) => return payload::<serde_json::Value>(ctx, Err(e)).await,
    };
    let amount = input.amount.map(|a| a.0);
    let fingerprint = serde_json::json!({ "id": id, "amount": amount });
    let name = match movement {
        Movement::Capture => "capturePayment",
        Movement::Release => "releasePayment",
    };
    let result = idempotent(
        ctx,
        input.idempotency_key.as_deref(),
        name,
        &fingerprint,
        |claim| async move {
            match movement {
                Movement::Capture => payments::capture(gw, &caller, id, amount, claim).await,
                Movement::Release => payments::release(gw, &caller, id, amount, claim).await,
            }
        },
    )
    .await;
    payload(ctx, result).await
}

/// The mutations that take only a payment id: one input, one idempotency, three actions.
#[derive(Clone, Copy)]
enum IdAction {
    Activate,
    Send,
    Cancel,
}

async fn id_mutation(
    ctx: &Context<'_>,
    input: CancelPaymentInput,
    action: IdAction,
) -> async_graphql::Result<PaymentPayload> {
    let caller = caller(ctx)?;
    let gw = gateway(ctx)?;
    let id = match parse_id(&input.id, "id") {
        Ok(id) => id,
        Err(e) => return payload::<serde_json::Value>(ctx, Err(e)).await,
    };
    let name = match action {
        IdAction::Activate => "activatePayment",
        IdAction::Send => "sendPayment",
        IdAction::Cancel => "cancelPayment",
    };
    let fingerprint = serde_json::json!({ "id": id });
    let result = idempotent(
        ctx,
        input.idempotency_key.as_deref(),
        name,
        &fingerprint,
        |claim| async move {
            match action {
                IdAction::Activate => payments::activate(gw, &caller, id, claim).await,
                IdAction::Send => payments::send(gw, &caller, id, claim).await.map(Into::into),
                IdAction::Cancel => payments::cancel(gw, &caller, id, claim)
                    .await
                    .map(Into::into),
            }
        },
    )
    .await;
    payload(ctx, result).await
}

fn optional_id(id: &Option<ID>, field: &str) -> Result<Option<Uuid>, ServiceError> {
    id.as_ref().map(|id| parse_id(id, field)).transpose()
}

#[derive(Default)]
pub struct PaymentMutation;

#[Object]
impl PaymentMutation {
    /// A payment to be paid later: CREATED.
    async fn create_payment(
        &self,
        ctx: &Context<'_>,
        input: CreatePaymentInput,
    ) -> async_graphql::Result<PaymentPayload> {
        let caller = caller(ctx)?;
        let gw = gateway(ctx)?;
        let svc = match optional_id(&input.customer_id, "customerId") {
            Ok(customer_id) => SvcCreate {
                customer_id,
                expires_at: input.expires_at,
                force_recurring: input.force_recurring,
                amount: input.amount.map(|a| a.0),
                items: items_of(input.items),
                currency: input.currency,
                capture_method: input.capture_method.into(),
                client_reference: input.client_reference,
                description: input.description,
                metadata: input.metadata.map(|j| j.0),
                require_confirmation: input.require_confirmation,
                name: input.name,
                price: input.price.map(|a| a.0),
                quantity: input.quantity,
                return_url: input.return_url,
                commission_percent: input.commission_percent,
                refund_availability: input.refund_availability.map(|r| r.as_str().to_string()),
                due_at: input.due_at,
                due_strict: input.due_strict,
            },
            Err(e) => return payload::<serde_json::Value>(ctx, Err(e)).await,
        };
        let key = input.idempotency_key;
        let result = idempotent(ctx, key.as_deref(), "createPayment", &svc, |claim| {
            payments::create_payment(gw, &caller, svc.clone(), claim)
        })
        .await;
        // The payment as just written: no second read.
        payload(ctx, result).await
    }

    /// Charges a customer's stored card: AUTOMATIC → PAID, MANUAL → HOLD; declined → ERROR,
    /// fraud → BLOCKED. Answers PENDING_CHARGE / PENDING_EXECUTE if the acquirer is slow.
    async fn charge_customer(
        &self,
        ctx: &Context<'_>,
        input: ChargeCustomerInput,
    ) -> async_graphql::Result<PaymentPayload> {
        let caller = caller(ctx)?;
        let gw = gateway(ctx)?;
        let ids = parse_id(&input.customer_id, "customerId")
            .and_then(|c| Ok((c, optional_id(&input.payment_method_id, "paymentMethodId")?)));
        let svc = match ids {
            Ok((customer_id, payment_method_id)) => SvcCharge {
                customer_id,
                payment_method_id,
                amount: input.amount.map(|a| a.0),
                items: items_of(input.items),
                currency: input.currency,
                capture_method: input.capture_method.into(),
                client_reference: input.client_reference,
                description: input.description,
                metadata: input.metadata.map(|j| j.0),
                fallback_to_paylink: input.fallback_to_paylink,
            },
            Err(e) => return payload::<serde_json::Value>(ctx, Err(e)).await,
        };
        let key = input.idempotency_key;
        let result = idempotent(ctx, key.as_deref(), "chargeCustomer", &svc, |claim| {
            payments::charge_with_fallback(gw, &caller, svc.clone(), claim)
        })
        .await;
        charge_payload(ctx, result).await
    }

    /// Captures `amount` of a hold (default: all that remains authorized).
    async fn capture_payment(
        &self,
        ctx: &Context<'_>,
        input: AmountInput,
    ) -> async_graphql::Result<PaymentPayload> {
        amount_mutation(ctx, input, Movement::Capture).await
    }

    /// Releases what remains of a hold (or `amount` of it).
    async fn release_payment(
        &self,
        ctx: &Context<'_>,
        input: AmountInput,
    ) -> async_graphql::Result<PaymentPayload> {
        amount_mutation(ctx, input, Movement::Release).await
    }

    /// Refunds `amount` (default: all that remains refundable), never above what was captured.
    async fn refund_payment(
        &self,
        ctx: &Context<'_>,
        input: RefundPaymentInput,
    ) -> async_graphql::Result<PaymentPayload> {
        let caller = caller(ctx)?;
        let gw = gateway(ctx)?;
        let id = match parse_id(&input.id, "id") {
            Ok(id) => id,
            Err(e) => return payload::<serde_json::Value>(ctx, Err(e)).await,
        };
        let amount = input.amount.map(|a| a.0);
        let reason = input.reason;
        let fingerprint = serde_json::json!({ "id": id, "amount": amount, "reason": reason });
        let result = idempotent(
            ctx,
            input.idempotency_key.as_deref(),
            "refundPayment",
            &fingerprint,
            |claim| payments::refund(gw, &caller, id, amount, reason.clone(), claim),
        )
        .await;
        payload(ctx, result).await
    }

    /// LiveChat's activate: captures an ACCEPTED charge (PENDING_EXECUTE, then PAID or ERROR).
    async fn activate_payment(
        &self,
        ctx: &Context<'_>,
        input: CancelPaymentInput,
    ) -> async_graphql::Result<PaymentPayload> {
        id_mutation(ctx, input, IdAction::Activate).await
    }

    /// Chip's charge with a recurring token: charges a CREATED payment with the card of a
    /// payment that saved it. A failure answers PURCHASE_CHARGE_ERROR; see transactionData.
    async fn charge_payment(
        &self,
        ctx: &Context<'_>,
        input: ChargePaymentInput,
    ) -> async_graphql::Result<PaymentPayload> {
        let caller = caller(ctx)?;
        let gw = gateway(ctx)?;
        let ids = parse_id(&input.id, "id")
            .and_then(|id| Ok((id, parse_id(&input.recurring_token, "recurringToken")?)));
        let (id, token) = match ids {
            Ok(ids) => ids,
            Err(e) => return payload::<serde_json::Value>(ctx, Err(e)).await,
        };
        let fingerprint = serde_json::json!({ "id": id, "recurringToken": token });
        let result = idempotent(
            ctx,
            input.idempotency_key.as_deref(),
            "chargePayment",
            &fingerprint,
            |claim| payments::charge_with_token(gw, &caller, id, token, claim),
        )
        .await;
        let mut answer = payload(ctx, result).await?;
        if let Some(p) = &answer.payment
            && answer.errors.is_empty()
            && matches!(p.0.status.as_str(), "CREATED" | "ERROR" | "BLOCKED")
        {
            let detail =
                p.0.error_message
                    .clone()
                    .unwrap_or_else(|| "the charge failed".into());
            answer.errors.push(UserError {
                code: "PURCHASE_CHARGE_ERROR".into(),
                field: vec![],
                message: format!("{} ({detail})", p.0.error_code.clone().unwrap_or_default()),
            });
        }
        Ok(answer)
    }

    /// Records that the invoice link (checkoutUrl) was sent to the buyer: SENT.
    async fn send_payment(
        &self,
        ctx: &Context<'_>,
        input: CancelPaymentInput,
    ) -> async_graphql::Result<PaymentPayload> {
        id_mutation(ctx, input, IdAction::Send).await
    }

    /// Cancels a payment not yet authorized (CREATED, SENT, VIEWED, OVERDUE), or one whose
    /// authorization is in flight (released automatically if it goes through); anything
    /// else answers INVALID_STATE.
    async fn cancel_payment(
        &self,
        ctx: &Context<'_>,
        input: CancelPaymentInput,
    ) -> async_graphql::Result<PaymentPayload> {
        id_mutation(ctx, input, IdAction::Cancel).await
    }
}
