//! `payments` table.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[sea_orm(table_name = "payments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub merchant_id: Uuid,
    pub mode: String,
    pub customer_id: Option<Uuid>,
    pub payment_method_id: Option<Uuid>,
    pub status: String,
    pub currency: String,
    pub amount: i64,
    pub vat_amount: i64,
    /// `AUTOMATIC` or `MANUAL`.
    pub capture_method: String,
    pub client_reference: Option<String>,
    pub description: Option<String>,
    pub metadata: Option<Json>,
    pub authorized_amount: i64,
    pub captured_amount: i64,
    pub released_amount: i64,
    pub refunded_amount: i64,
    /// The acquirer's payment id, once authorized.
    pub acquirer_reference: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    /// The paylink it was paid through.
    pub paylink_id: Option<Uuid>,
    /// The code of its hosted page (`/pay/{code}`), for payments made with createPayment.
    pub checkout_code: Option<String>,
    pub checkout_expires_at: Option<DateTimeUtc>,
    /// Store the card used on the hosted page on the customer.
    pub force_recurring: bool,
    /// Paid with a remembered card: its id is a recurring token for chargePayment.
    pub is_recurring_token: bool,
    /// The buyer must accept the charge first (LiveChat Direct Charges).
    pub require_confirmation: bool,
    /// Where the buyer goes after accepting or declining.
    pub return_url: Option<String>,
    /// The merchant's commission, whole percent 0–100.
    pub commission_percent: Option<i32>,
    /// Which refunds are allowed: ALL, FULL_ONLY, PARTIAL_ONLY or NONE.
    pub refund_availability: String,
    /// When the buyer should have paid (Chip's due); past it the payment is OVERDUE, or
    /// EXPIRED when `due_strict`.
    pub due_at: Option<DateTimeUtc>,
    #[serde(default)]
    #[sea_orm(default_value = false)]
    pub due_strict: bool,
    /// When sendPayment recorded that the invoice link was sent (SENT).
    pub sent_at: Option<DateTimeUtc>,
    /// When the buyer first opened the hosted page (VIEWED).
    pub viewed_at: Option<DateTimeUtc>,
    /// When the acquirer authorized it: a hold older than the release setting is released.
    pub authorized_at: Option<DateTimeUtc>,
    /// When all of it was captured (PAID): the start of clearing.
    pub paid_at: Option<DateTimeUtc>,
    pub cleared_at: Option<DateTimeUtc>,
    pub settled_at: Option<DateTimeUtc>,
    /// What the card holder's bank took back (CHARGEBACK).
    #[serde(default)]
    #[sea_orm(default_value = 0)]
    pub chargeback_amount: i64,
    /// The sequence number of its latest event: the next event takes the next number, with
    /// no read of the event log (the payment's row lock orders them).
    #[serde(default)]
    #[sea_orm(default_value = 0)]
    pub event_sequence: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
