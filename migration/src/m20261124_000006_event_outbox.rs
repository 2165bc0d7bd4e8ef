//! The events still to fan out move from a column of the event log to a table of their own.
//!
//! The dispatcher used to mark each event it fanned out (`events.fanned_out_at`), and a
//! partial index held the ones still to do. Because that index's condition names the
//! column, PostgreSQL could never update the row in place: marking an event wrote a new
//! copy of the whole row, its payment snapshot included, and a new entry in each of the
//! event log's five indexes. A charge makes three events, so that was three row copies and
//! fifteen index entries per charge, written again after the charge. Now an event is
//! written with a one-column row in `event_outbox`, in the same statement batch, and the
//! dispatcher deletes that row when it fans the event out: the event log is append-only.
use sea_orm_migration::prelude::*;

use crate::m20261123_000004_lifecycle as lifecycle;
use crate::util::{create_table, drop_tables};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_table(manager, entity::event_outbox::Entity).await?;
        let db = manager.get_connection();
        // Events written before this and not yet fanned out stay to do.
        db.execute_unprepared(
            "INSERT INTO event_outbox (event_id) SELECT id FROM events WHERE fanned_out_at IS NULL",
        )
        .await?;
        lifecycle::drop_fanned_out_at(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        lifecycle::add_fanned_out_at(manager).await?;
        let db = manager.get_connection();
        db.execute_unprepared(
            "UPDATE events SET fanned_out_at = created_at WHERE id NOT IN (SELECT event_id FROM event_outbox)",
        )
        .await?;
        db.execute_unprepared(lifecycle::PENDING_EVENTS_INDEX)
            .await?;
        drop_tables(manager, &["event_outbox"]).await
    }
}
