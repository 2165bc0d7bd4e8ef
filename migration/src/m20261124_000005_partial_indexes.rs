//! Indexes on columns most payments leave empty hold only the payments that fill them.
//!
//! A payment row had twelve indexes, and PostgreSQL writes an entry in each for every new
//! row and every move of its status (a status change is never a heap-only update): a charge
//! wrote 24 entries into them, and inserting index entries was a fifth of the server's CPU
//! in the charge benchmark (perf). Most of these columns are empty for most payments: the
//! due date (only invoices), the hold's time (only manual captures), clearing (later), the
//! paylink, the hosted page's code, the merchant's reference, the acquirer's (until it
//! answers). Every query that uses one of these indexes compares its column with a value, so
//! it never looks for an empty one: both PostgreSQL and SQLite prove `x = $1` or
//! `x <= $1` implies `x IS NOT NULL` (even for a generic plan) and still use the partial
//! index. A charge now writes 10 entries instead of 24.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Indexes of `payments`: (name, columns, the column that must be set).
const INDEXES: &[(&str, &str, &str)] = &[
    ("ix_payments_due", "status, due_at", "due_at"),
    (
        "ix_payments_authorized",
        "status, authorized_at",
        "authorized_at",
    ),
    ("ix_payments_paid", "status, paid_at", "paid_at"),
    ("ix_payments_cleared", "status, cleared_at", "cleared_at"),
    (
        "ix_payments_acquirer_reference",
        "acquirer_reference",
        "acquirer_reference",
    ),
    (
        "ix_payments_checkout_code",
        "checkout_code",
        "checkout_code",
    ),
    ("ix_payments_paylink", "paylink_id", "paylink_id"),
    (
        "ix_payments_client_reference",
        "merchant_id, mode, client_reference",
        "client_reference",
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for (name, columns, set) in INDEXES {
            db.execute_unprepared(&format!("DROP INDEX IF EXISTS {name}"))
                .await?;
            db.execute_unprepared(&format!(
                "CREATE INDEX {name} ON payments ({columns}) WHERE {set} IS NOT NULL"
            ))
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for (name, columns, _) in INDEXES {
            db.execute_unprepared(&format!("DROP INDEX IF EXISTS {name}"))
                .await?;
            db.execute_unprepared(&format!("CREATE INDEX {name} ON payments ({columns})"))
                .await?;
        }
        Ok(())
    }
}
