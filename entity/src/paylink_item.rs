//! `paylink_items` table.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "paylink_items")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub paylink_id: Uuid,
    pub position: i32,
    pub name: Option<String>,
    pub description: String,
    pub price: i64,
    pub vat: i32,
    pub quantity: i32,
    pub client_item_reference: Option<String>,
    pub ogp_uri: Option<String>,
    pub product_id: Option<Uuid>,
    pub total: i64,
    pub vat_amount: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
