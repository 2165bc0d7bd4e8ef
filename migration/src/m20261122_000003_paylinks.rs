use crate::util::{create_indexes, create_table, drop_tables};
use entity::*;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: &[(&str, &str, &str, bool)] = &[
    (
        "ix_products_merchant",
        "products",
        "merchant_id, mode, created_at",
        false,
    ),
    (
        "ix_paylinks_merchant",
        "paylinks",
        "merchant_id, mode, created_at, id",
        false,
    ),
    (
        "ix_paylinks_expiry",
        "paylinks",
        "status, expires_at",
        false,
    ),
    (
        "ix_paylink_items_paylink",
        "paylink_items",
        "paylink_id, position",
        false,
    ),
    (
        "ix_payments_checkout_code",
        "payments",
        "checkout_code",
        false,
    ),
    ("ix_payments_paylink", "payments", "paylink_id", false),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_table(manager, product::Entity).await?;
        create_table(manager, paylink::Entity).await?;
        create_table(manager, paylink_item::Entity).await?;
        create_indexes(manager, INDEXES).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["paylink_items", "paylinks", "products"]).await
    }
}
