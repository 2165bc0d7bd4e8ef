use entity::*;
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, EntityTrait, Schema};

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: &[(&str, &str, &str)] = &[
    (
        "ix_webhook_endpoints_merchant",
        "webhook_endpoints",
        "merchant_id, mode",
    ),
    (
        "ix_webhook_deliveries_event",
        "webhook_deliveries",
        "event_id, created_at",
    ),
    (
        "ix_webhook_attempts_delivery",
        "webhook_attempts",
        "delivery_id, at",
    ),
    (
        "ix_events_type",
        "events",
        "merchant_id, mode, type, created_at",
    ),
];

async fn create<E: EntityTrait>(manager: &SchemaManager<'_>, entity: E) -> Result<(), DbErr> {
    let schema = Schema::new(manager.get_database_backend());
    manager
        .create_table(
            schema
                .create_table_with_index_from_entity(entity)
                .if_not_exists()
                .to_owned(),
        )
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create(manager, webhook_endpoint::Entity).await?;
        create(manager, webhook_delivery::Entity).await?;
        create(manager, webhook_attempt::Entity).await?;
        let db = manager.get_connection();
        for (name, table, columns) in INDEXES {
            db.execute_unprepared(&format!(
                "CREATE INDEX IF NOT EXISTS {name} ON {table} ({columns})"
            ))
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "webhook_attempts",
            "webhook_deliveries",
            "webhook_endpoints",
        ] {
            manager
                .drop_table(
                    Table::drop()
                        .table(Alias::new(table))
                        .if_exists()
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
