//! `payment_items` table.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "payment_items")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub payment_id: Uuid,
    pub position: i32,
    pub name: String,
    pub description: Option<String>,
    pub unit_price: i64,
    pub vat_rate: i32,
    pub quantity: i32,
    pub client_item_reference: Option<String>,
    pub total: i64,
    pub vat_amount: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
