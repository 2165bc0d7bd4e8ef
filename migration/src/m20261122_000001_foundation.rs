use crate::util::{create_indexes, create_table, drop_tables};
use entity::*;
use sea_orm_migration::prelude::*;

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

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_table(manager, merchant::Entity).await?;
        create_table(manager, api_key::Entity).await?;
        create_table(manager, customer::Entity).await?;
        create_table(manager, payment_method::Entity).await?;
        create_table(manager, payment::Entity).await?;
        create_table(manager, payment_item::Entity).await?;
        create_table(manager, operation::Entity).await?;
        create_table(manager, status_history::Entity).await?;
        create_table(manager, job::Entity).await?;
        create_table(manager, idempotency_key::Entity).await?;
        create_table(manager, event::Entity).await?;
        create_indexes(manager, INDEXES).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            &[
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
            ],
        )
        .await
    }
}
