use crate::util::{create_indexes, create_table, drop_tables};
use entity::*;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: &[(&str, &str, &str, bool)] = &[
    (
        "ix_webhook_endpoints_merchant",
        "webhook_endpoints",
        "merchant_id, mode",
        false,
    ),
    (
        "ix_webhook_deliveries_event",
        "webhook_deliveries",
        "event_id, created_at",
        false,
    ),
    (
        "ix_webhook_attempts_delivery",
        "webhook_attempts",
        "delivery_id, at",
        false,
    ),
    (
        "ix_events_type",
        "events",
        "merchant_id, mode, type, created_at",
        false,
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_table(manager, webhook_endpoint::Entity).await?;
        create_table(manager, webhook_delivery::Entity).await?;
        create_table(manager, webhook_attempt::Entity).await?;
        create_indexes(manager, INDEXES).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            &[
                "webhook_attempts",
                "webhook_deliveries",
                "webhook_endpoints",
            ],
        )
        .await
    }
}
