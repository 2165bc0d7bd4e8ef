//! The purchase lifecycle: due dates, sent/viewed, authorization and clearing times, and
//! chargebacks on `payments`. A database made from the current entities already has these
//! columns (migration 1 creates tables from them), so each is added only when missing.
use crate::util::create_indexes;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(Clone, Copy)]
enum Kind {
    Time,
    Flag,
    Money,
}

const COLUMNS: &[(&str, Kind)] = &[
    ("due_at", Kind::Time),
    ("due_strict", Kind::Flag),
    ("sent_at", Kind::Time),
    ("viewed_at", Kind::Time),
    ("authorized_at", Kind::Time),
    ("paid_at", Kind::Time),
    ("cleared_at", Kind::Time),
    ("settled_at", Kind::Time),
    ("chargeback_amount", Kind::Money),
    ("event_sequence", Kind::Money),
];

/// The scheduled jobs find their payments by status and time; chargeback notifications
/// find theirs by the acquirer's reference.
const INDEXES: &[(&str, &str, &str, bool)] = &[
    ("ix_payments_due", "payments", "status, due_at", false),
    (
        "ix_payments_authorized",
        "payments",
        "status, authorized_at",
        false,
    ),
    ("ix_payments_paid", "payments", "status, paid_at", false),
    (
        "ix_payments_cleared",
        "payments",
        "status, cleared_at",
        false,
    ),
    (
        "ix_payments_acquirer_reference",
        "payments",
        "acquirer_reference",
        false,
    ),
];

/// Events still to fan out, oldest first (a partial index: fanned-out events leave it).
pub(crate) const PENDING_EVENTS_INDEX: &str = "CREATE INDEX IF NOT EXISTS ix_events_unfanned ON events (created_at) WHERE fanned_out_at IS NULL";

/// The event log's column of when an event was fanned out (none: still to do).
pub(crate) async fn add_fanned_out_at(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .alter_table(
            Table::alter()
                .table(Alias::new("events"))
                .add_column(
                    ColumnDef::new(Alias::new("fanned_out_at"))
                        .timestamp_with_time_zone()
                        .null(),
                )
                .to_owned(),
        )
        .await
}

/// Drops that column, and the index of the events still to do that names it.
pub(crate) async fn drop_fanned_out_at(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .get_connection()
        .execute_unprepared("DROP INDEX IF EXISTS ix_events_unfanned")
        .await?;
    manager
        .alter_table(
            Table::alter()
                .table(Alias::new("events"))
                .drop_column(Alias::new("fanned_out_at"))
                .to_owned(),
        )
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if !manager.has_column("events", "fanned_out_at").await? {
            add_fanned_out_at(manager).await?;
            // Events made before this were fanned out by their jobs.
            manager
                .get_connection()
                .execute_unprepared("UPDATE events SET fanned_out_at = created_at")
                .await?;
        }
        manager
            .get_connection()
            .execute_unprepared(PENDING_EVENTS_INDEX)
            .await?;
        let had_sequence = manager.has_column("payments", "event_sequence").await?;
        for (name, kind) in COLUMNS {
            if manager.has_column("payments", name).await? {
                continue;
            }
            let mut col = ColumnDef::new(Alias::new(*name));
            match kind {
                Kind::Time => col.timestamp_with_time_zone().null(),
                Kind::Flag => col.boolean().not_null().default(false),
                Kind::Money => col.big_integer().not_null().default(0),
            };
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new("payments"))
                        .add_column(&mut col)
                        .to_owned(),
                )
                .await?;
        }
        if !had_sequence {
            // Payments made before this migration go on from their latest event.
            manager
                .get_connection()
                .execute_unprepared(
                    "UPDATE payments SET event_sequence = COALESCE((SELECT MAX(sequence) FROM events WHERE events.payment_id = payments.id), 0)",
                )
                .await?;
        }
        create_indexes(manager, INDEXES).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_fanned_out_at(manager).await?;
        let db = manager.get_connection();
        for (name, _, _, _) in INDEXES {
            db.execute_unprepared(&format!("DROP INDEX IF EXISTS {name}"))
                .await?;
        }
        for (name, _) in COLUMNS {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new("payments"))
                        .drop_column(Alias::new(*name))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
