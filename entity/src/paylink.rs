//! `paylinks` table.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[sea_orm(table_name = "paylinks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub merchant_id: Uuid,
    pub mode: String,
    /// The public code in `/pay/{code}`.
    #[sea_orm(unique)]
    pub code: String,
    pub title: String,
    pub client_reference: Option<String>,
    /// DIRECT or AUTHORIZE.
    pub purchase_flow: String,
    /// The options as a JSON list of objects `{type, subType?, url?, name?, imageUrl?, description?}`.
    pub payment_options: Json,
    /// The same as the SPiD bit mask (PROVIDED options have no bit).
    pub payment_options_mask: i32,
    pub currency: String,
    pub total: i64,
    pub vat_total: i64,
    /// AVAILABLE, USED, EXPIRED or DELETED.
    pub status: String,
    pub expires_at: DateTimeUtc,
    pub redirect_uri: Option<String>,
    pub cancel_uri: Option<String>,
    pub buyer_customer_id: Option<Uuid>,
    /// The API key that made it.
    pub created_by: Uuid,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
