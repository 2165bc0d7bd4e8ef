//! `operations` table.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "operations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub payment_id: Uuid,
    pub merchant_id: Uuid,
    /// AUTHORIZE, CHARGE, CAPTURE, RELEASE, REFUND.
    pub kind: String,
    pub amount: i64,
    /// PENDING, SUCCEEDED, FAILED.
    pub status: String,
    pub acquirer_reference: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub reason: Option<String>,
    /// The 3-D Secure authentication that allows a card payment, if it needed one.
    pub authentication: Option<String>,
    /// Calls made to the acquirer for this operation (all with the same idempotency key).
    pub attempts: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
