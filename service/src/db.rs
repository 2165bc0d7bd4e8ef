//! Database connection and migrations.
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database, DatabaseConnection};

use crate::error::Result;
use crate::settings::Settings;

/// PostgreSQL plans each prepared statement once, not at every execution. Left to choose, it
/// kept planning the payments page afresh (its estimate for the given merchant and status
/// always looked cheaper than the generic plan's), and planning was twice the cost of
/// running it: 45 % of PostgreSQL's CPU in the list benchmark. Every statement Paygate
/// prepares filters on indexed columns, so the generic plan is the same index scan (the
/// benchmark's `EXPLAIN` shows it); pages/s went up by about 25 %.
const GENERIC_PLANS: &str = "force_generic_plan";

/// How long a statement waits for a connection before it fails (pooled or held, see
/// `autocommit`): under overload a request answers an error rather than wait without end.
pub(crate) const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// A pooled connection idle for this long is pinged before it is handed out. One in steady
/// use is not: the check is a round trip to the server on every checkout, as many as the
/// statements a charge's worker sends itself, and a connection that just answered is alive.
/// One that died since it answered fails its next statement, which errors like any other
/// database failure (a request's error, a job left to its lease).
pub(crate) const PING_IF_IDLE_FOR: Duration = Duration::from_secs(10);

/// Connects to the configured database. SQLite gets one connection, in WAL mode: SQLite
/// has one writer at a time anyway, and a single connection makes every transaction
/// strictly serial, which is what keeps concurrent captures and refunds safe there.
pub async fn connect(settings: &Settings) -> Result<DatabaseConnection> {
    let mut opts = ConnectOptions::new(settings.database_url.clone());
    opts.sqlx_logging(false)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_timeout(Duration::from_secs(10))
        .test_before_acquire_if_idle_for(PING_IF_IDLE_FOR);
    if settings.is_sqlite() {
        opts.max_connections(1)
            .min_connections(1)
            .map_sqlx_sqlite_opts(|o| {
                o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
                    .create_if_missing(true)
            });
    } else {
        opts.max_connections(settings.database_pool)
            .min_connections(1)
            .map_sqlx_postgres_opts(|o| o.options([("plan_cache_mode", GENERIC_PLANS)]));
    }
    Ok(Database::connect(opts).await?)
}

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> Result<()> {
    Migrator::up(db, None).await?;
    Ok(())
}

/// The time now, at the precision the databases keep (microseconds). Rows built here and
/// answered without being read back (see `writes`) then match what a later read gives.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::SubsecRound;
    chrono::Utc::now().trunc_subsecs(6)
}
