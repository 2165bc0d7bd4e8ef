use entity::*;
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, EntityTrait, Schema};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Composite indexes: (name, table, columns, unique).
const INDEXES: &[(&str, &str, &str, bool)] = &[
    (
        "ix_api_keys_merchant",
        "api_keys",
        "merchant_id, mode",
        false,
    ),
    (
        "ix_customers_merchant",
        "customers",
        "merchant_id, mode, created_at",
        false,
    ),
    (
        "ix_payment_methods_customer",
        "payment_methods",
        "customer_id",
        false,
    ),
    // Listing newest first per merchant and mode, optionally by status.
    (
        "ix_payments_list",
        "payments",
        "merchant_id, mode, created_at, id",
        false,
    ),
    (
        "ix_payments_status",
        "payments",
        "merchant_id, mode, status, created_at, id",
        false,
    ),
    (
        "ix_payments_customer",
        "payments",
        "customer_id, created_at",
        false,
    ),
    (
        "ix_payments_client_reference",
        "payments",
        "merchant_id, mode, client_reference",
        false,
    ),
    (
        "ix_payment_items_payment",
        "payment_items",
        "payment_id, position",
        false,
    ),
    (
        "ix_operations_payment",
        "operations",
        "payment_id, created_at",
        false,
    ),
    (
        "ix_status_history_payment",
        "status_history",
        "payment_id, at",
        false,
    ),
    ("ix_jobs_due", "jobs", "status, run_at", false),
    (
        "ux_idempotency_keys",
        "idempotency_keys",
        "merchant_id, mode, key",
        true,
    ),
    (
        "ix_idempotency_keys_expiry",
        "idempotency_keys",
        "expires_at",
        false,
    ),
    (
        "ix_events_merchant",
        "events",
        "merchant_id, mode, created_at, id",
        false,
    ),
    (
        "ux_events_payment_sequence",
        "events",
        "payment_id, sequence",
        true,
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
        create(manager, merchant::Entity).await?;
        create(manager, api_key::Entity).await?;
        create(manager, customer::Entity).await?;
        create(manager, payment_method::Entity).await?;
        create(manager, payment::Entity).await?;
        create(manager, payment_item::Entity).await?;
        create(manager, operation::Entity).await?;
        create(manager, status_history::Entity).await?;
        create(manager, job::Entity).await?;
        create(manager, idempotency_key::Entity).await?;
        create(manager, event::Entity).await?;
        let db = manager.get_connection();
        for (name, table, columns, unique) in INDEXES {
            let unique = if *unique { "UNIQUE " } else { "" };
            db.execute_unprepared(&format!(
                "CREATE {unique}INDEX IF NOT EXISTS {name} ON {table} ({columns})"
            ))
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "events",
            "idempotency_keys",
            "jobs",
            "status_history",
            "operations",
            "payment_items",
            "payments",
            "payment_methods",
            "customers",
            "api_keys",
            "merchants",
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
