//! Keeping the outbox's tables lean on PostgreSQL.
//!
//! `event_outbox` and `jobs` churn: every event's outbox row is deleted once it is fanned
//! out, and every job row is rewritten as it is handed out and finished. Each of those
//! leaves a dead row version and dead index entries behind until a VACUUM, and the
//! dispatcher's polls (ten a second) walk over every one of them: with the 187,000 dead
//! outbox rows that a few minutes of benchmark load left, reading the empty outbox took
//! 3.5 ms of the database's CPU (655 pages), and the due-jobs query about as much, on every
//! tick.
//! Autovacuum would clean them, but it visits a database once a minute at best, and some
//! servers run with it off (this repository's benchmark machine does). So the worker
//! vacuums these two tables itself once the server's statistics count enough dead rows in
//! them: a vacuum of a table that holds few live rows costs a few milliseconds, as long as
//! it does not also try to truncate the table's empty pages, which a migration switches off
//! for these two (`vacuum_truncate`: truncating takes a lock every write of an event or a
//! job waits for).
//!
//! A vacuum also records how many rows the table holds, and every connection then plans its
//! statements on it again: a claim of the outbox planned while it was empty (a scan) is
//! planned on its primary key once a backlog's dead rows have brought on the next vacuum
//! (see `webhooks::claim_events_sql`).
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};

use crate::error::Result;

/// The tables that churn, by name.
pub const TABLES: [&str; 2] = ["event_outbox", "jobs"];

/// Dead rows in one of [`TABLES`] from which the worker vacuums it: the empty outbox's
/// poll then reads a handful of index pages, not hundreds.
pub const MIN_DEAD_ROWS: i64 = 1_000;

/// Vacuums each of [`TABLES`] in which the server's statistics count at least `min_dead`
/// dead rows, and returns their names. Nothing on SQLite, which keeps no dead versions of
/// rows. A table another session is vacuuming meanwhile (autovacuum, another worker) is
/// skipped, not waited for; one this role does not own is left alone.
pub async fn vacuum_churned(db: &DatabaseConnection, min_dead: i64) -> Result<Vec<&'static str>> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(vec![]);
    }
    let churned = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            // Only tables this role may vacuum (it owns them, as the one that migrated
            // them does): on others the server would log a warning every time.
            "SELECT s.relname::text FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid \
             WHERE s.schemaname = current_schema() AND s.relname = ANY($1) \
             AND s.n_dead_tup >= $2 AND pg_has_role(c.relowner, 'USAGE')",
            [TABLES.map(String::from).to_vec().into(), min_dead.into()],
        ))
        .await?;
    let mut vacuumed = Vec::with_capacity(TABLES.len());
    for row in churned {
        let name: String = row.try_get_by_index(0)?;
        // Only names from TABLES reach the statement.
        if let Some(table) = TABLES.into_iter().find(|t| *t == name) {
            // Outside any transaction, as VACUUM must be.
            db.execute_unprepared(&format!("VACUUM (SKIP_LOCKED) \"{table}\""))
                .await?;
            vacuumed.push(table);
        }
    }
    Ok(vacuumed)
}
