//! The jobs' history is kept for `PAYGATE_JOB_RETENTION_MS`, then deleted. At a thousand
//! charges a second the `jobs` table gains millions of finished rows a day; left there, they
//! grow the due index that the dispatcher reads ten times a second and every vacuum of the
//! table walks. A task of its own, not a step of the dispatcher's loop: the first sweep
//! after an upgrade may have weeks of rows to delete, and webhooks must not wait on it.
use std::time::Duration;

use service::{Gateway, jobs};
use tokio_util::sync::CancellationToken;

/// Rows deleted by one statement: short enough that no statement holds many locks or
/// writes much WAL at once.
const BATCH: u64 = 5_000;
const SWEEP_EVERY: Duration = Duration::from_secs(60);

pub async fn run_retention(gw: Gateway, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(SWEEP_EVERY) => {}
        }
        match purge_job_history(&gw, &shutdown).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "finished jobs past their retention deleted"),
            Err(e) => tracing::warn!(error = %e, "could not delete the finished jobs' history"),
        }
    }
}

/// Deletes the finished jobs older than the retention, a batch at a time until none is
/// left or `shutdown` is cancelled; returns how many. Nothing when the retention is 0.
pub async fn purge_job_history(gw: &Gateway, shutdown: &CancellationToken) -> service::Result<u64> {
    let keep = gw.settings.job_retention;
    // A retention too long to subtract from now keeps everything, as 0 does.
    let before = chrono::Duration::from_std(keep)
        .ok()
        .and_then(|keep| service::db::now().checked_sub_signed(keep));
    let Some(before) = before.filter(|_| !keep.is_zero()) else {
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
