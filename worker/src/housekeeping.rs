//! The worker's upkeep of the queue's tables, in a task of its own beside the dispatcher:
//! none of it is on the path of a job or an event, and none of it may hold them up.
//!
//! - On PostgreSQL, every `PAYGATE_QUEUE_VACUUM_INTERVAL_MS` it vacuums the outbox's tables
//!   once they have churned ([`service::queue_tables`]). This used to be a step of the
//!   dispatcher's loop, on the view that vacuuming two small tables takes milliseconds; in
//!   the benchmark one took 3.1 s, waiting to truncate the table's empty pages (now switched
//!   off by a migration), and fan-out and hand-outs waited with it.
//! - Every minute it deletes the finished jobs past `PAYGATE_JOB_RETENTION_MS`. At a
//!   thousand charges a second the `jobs` table gains millions of finished rows a day; left
//!   there, they grow the due index that the dispatcher reads ten times a second and that
//!   every vacuum of the table walks. The first sweep after an upgrade may have weeks of rows
//!   to delete.
use std::time::{Duration, Instant};

use service::{Gateway, jobs, queue_tables};
use tokio_util::sync::CancellationToken;

/// Rows deleted by one statement: short enough that no statement holds many locks or
/// writes much WAL at once.
const BATCH: u64 = 5_000;
const PURGE_EVERY: Duration = Duration::from_secs(60);

pub async fn run_housekeeping(gw: Gateway, shutdown: CancellationToken) {
    let vacuum_every = gw.settings.queue_vacuum_interval;
    let tick = if vacuum_every.is_zero() {
        PURGE_EVERY
    } else {
        vacuum_every.min(PURGE_EVERY)
    };
    let mut last_purge = Instant::now();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(tick) => {}
        }
        if !vacuum_every.is_zero() {
            match queue_tables::vacuum_churned(&gw.db, queue_tables::MIN_DEAD_ROWS).await {
                Ok(tables) if tables.is_empty() => {}
                Ok(tables) => tracing::debug!(?tables, "vacuumed the outbox's tables"),
                Err(e) => tracing::warn!(error = %e, "could not vacuum the outbox's tables"),
            }
        }
        if last_purge.elapsed() >= PURGE_EVERY {
            last_purge = Instant::now();
            match purge_job_history(&gw, &shutdown).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "finished jobs past their retention deleted"),
                Err(e) => tracing::warn!(error = %e, "could not delete the finished jobs' history"),
            }
        }
    }
}

/// Deletes the finished jobs older than the retention, a batch at a time until none is
/// left or `shutdown` is cancelled; returns how many. Nothing when the retention is 0.
pub async fn purge_job_history(gw: &Gateway, shutdown: &CancellationToken) -> service::Result<u64> {
    let keep = gw.settings.job_retention;
    if keep.is_zero() {
        return Ok(0);
    }
    // A retention too long to subtract from now keeps everything too.
    let Some(before) = chrono::Duration::from_std(keep)
        .ok()
        .and_then(|keep| service::db::now().checked_sub_signed(keep))
    else {
        return Ok(0);
    };
    let mut deleted = 0;
    while !shutdown.is_cancelled() {
        let n = jobs::purge_done(&gw.db, before, BATCH).await?;
        deleted += n;
        if n < BATCH {
            break;
        }
    }
    Ok(deleted)
}
