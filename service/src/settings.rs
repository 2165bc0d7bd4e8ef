//! Typed settings, read from `PAYGATE_…` environment variables. The defaults run the
//! embedded mode: a SQLite file in the working directory, the embedded job store and the
//! built-in simulator.
use std::net::SocketAddr;
use std::time::Duration;

use crate::error::ServiceError;

#[derive(Clone, Debug)]
pub struct Settings {
    /// Where the API listens (`PAYGATE_ADDR`).
    pub addr: SocketAddr,
    /// `sqlite://…` or `postgres://…` (`PAYGATE_DATABASE_URL`).
    pub database_url: String,
    /// Set: apalis-redis queues and Redis pub/sub (`PAYGATE_REDIS_URL`).
    pub redis_url: Option<String>,
    /// Key prefix in Redis, so deployments can share one server (`PAYGATE_REDIS_PREFIX`).
    pub redis_prefix: String,
    /// The embedded job store's SQLite file, when no Redis is set (`PAYGATE_JOB_STORE`).
    pub job_store: String,
    /// Where the worker finds the acquirer (`PAYGATE_SIMULATOR_URL`).
    pub simulator_url: String,
    /// Where `simulator` and `all` listen for it (`PAYGATE_SIMULATOR_ADDR`).
    pub simulator_addr: SocketAddr,
    /// Simulator fault injection (`PAYGATE_SIMULATOR_LATENCY_MS`, `PAYGATE_SIMULATOR_ERROR_RATE`).
    pub simulator_latency: Duration,
    pub simulator_error_rate: f64,
    /// How long the simulator's slow card takes (`PAYGATE_SIMULATOR_SLOW_MS`).
    pub simulator_slow: Duration,
    /// How long the worker waits for one acquirer answer (`PAYGATE_ACQUIRER_TIMEOUT_MS`).
    pub acquirer_timeout: Duration,
    /// How long a charge mutation waits for the worker's result (`PAYGATE_CHARGE_WAIT_MS`).
    pub charge_wait: Duration,
    /// A job handed to the queue but not finished within this lease is handed out again
    /// (`PAYGATE_JOB_LEASE_MS`): this is what makes a killed worker or a flushed Redis lose nothing.
    pub job_lease: Duration,
    /// How often the dispatcher looks for due jobs (`PAYGATE_DISPATCH_INTERVAL_MS`).
    pub dispatch_interval: Duration,
    /// How often the worker looks for dead rows in the outbox's tables, and vacuums those
    /// that have many (`PAYGATE_QUEUE_VACUUM_INTERVAL_MS`, default 5000; 0 never;
    /// PostgreSQL only; see [`crate::queue_tables`]).
    pub queue_vacuum_interval: Duration,
    /// First wait before asking the acquirer about a pending operation (`PAYGATE_RESOLVE_DELAY_MS`).
    pub resolve_delay: Duration,
    /// Jobs run at once by one worker process (`PAYGATE_WORKER_CONCURRENCY`).
    pub worker_concurrency: usize,
    /// Database connections per process (`PAYGATE_DATABASE_POOL`, default
    /// [`default_database_pool`]) in the pool, for transactions and writes; on PostgreSQL
    /// up to as many again are held for plain reads (`reads`). SQLite always uses one
    /// writer connection.
    pub database_pool: u32,
    /// The URL buyers and GraphiQL users reach the API at (`PAYGATE_PUBLIC_URL`).
    pub public_url: String,
    /// The master key (hex or base64, at least 32 bytes) from which webhook secrets are
    /// derived (`PAYGATE_MASTER_KEY`). Unset: read from, or made once in, `master_key_file`.
    pub master_key: Option<String>,
    /// `PAYGATE_MASTER_KEY_FILE`, default `paygate-master.key` in the working directory.
    pub master_key_file: String,
    /// Waits between webhook attempts after the first (`PAYGATE_WEBHOOK_RETRY_SCHEDULE`,
    /// e.g. `5s,5m,30m`).
    pub webhook_retry_schedule: Vec<Duration>,
    /// Allow webhook URLs on loopback and private addresses (`PAYGATE_WEBHOOK_ALLOW_PRIVATE`).
    pub webhook_allow_private: bool,
    /// Timeout of one webhook attempt (`PAYGATE_WEBHOOK_TIMEOUT_MS`).
    pub webhook_timeout: Duration,
    /// How often scheduled work runs: expiring paylinks, due dates, clearing and settlement,
    /// releasing old holds (`PAYGATE_SCHEDULE_INTERVAL_MS`).
    pub schedule_interval: Duration,
    /// A hold not captured within this is released (`PAYGATE_HOLD_RELEASE_DAYS`, default 7).
    pub hold_release_after: Duration,
    /// A PAID card payment is CLEARED this long after it was captured in full
    /// (`PAYGATE_CLEARING_AFTER_MS`, default one day).
    pub clearing_after: Duration,
    /// A CLEARED payment is SETTLED this long after clearing (`PAYGATE_SETTLEMENT_AFTER_MS`,
    /// default one day).
    pub settlement_after: Duration,
    /// How long after paying the simulator's chargeback card the simulator notifies the
    /// chargeback (`PAYGATE_SIMULATOR_CHARGEBACK_MS`, default 10 s).
    pub simulator_chargeback_delay: Duration,
    /// Where the simulator sends its notifications (`PAYGATE_SIMULATOR_NOTIFY_URL`, default
    /// `{PAYGATE_PUBLIC_URL}/acquirer/notifications`).
    pub simulator_notify_url: Option<String>,
    /// How long a checked API key is trusted without reading it again
    /// (`PAYGATE_API_KEY_CACHE_MS`, default 2000; 0 turns the cache off).
    pub api_key_cache: Duration,
    /// How long the job queue keeps its own record of a finished job before the worker
    /// sweeps it (`PAYGATE_QUEUE_DONE_RETENTION_MS`, default one hour). The outbox rows in
    /// the database are the jobs' history; these records only take memory in Redis.
    pub queue_done_retention: Duration,
    /// How long the `jobs` table keeps a finished job's row before the worker deletes it
    /// (`PAYGATE_JOB_RETENTION_MS`, default 7 days; 0 keeps them forever). Failed jobs are
    /// kept. The payments' operations, status history and webhook deliveries are their
    /// own record; a finished job row only says that the work was handed out and done.
    pub job_retention: Duration,
    /// The secret the acquirer signs its notifications with
    /// (`PAYGATE_ACQUIRER_NOTIFICATION_SECRET`); unset: derived from the master key.
    pub acquirer_notification_secret: Option<String>,
}

const DAY_SECS: u64 = 86_400;

/// The default webhook schedule: at once, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
pub const DEFAULT_WEBHOOK_SCHEDULE: &str = "5s,5m,30m,2h,5h,10h,10h";

/// Parses `5s,5m,2h,150ms` into durations.
pub fn parse_schedule(text: &str) -> Result<Vec<Duration>, ServiceError> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|part| {
            let bad = || {
                ServiceError::Config(format!(
                    "PAYGATE_WEBHOOK_RETRY_SCHEDULE: bad duration {part:?}"
                ))
            };
            let (num, unit) =
                part.split_at(part.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?);
            let n: u64 = num.parse().map_err(|_| bad())?;
            Ok(match unit {
                "ms" => Duration::from_millis(n),
                "s" => Duration::from_secs(n),
                "m" => Duration::from_secs(n * 60),
                "h" => Duration::from_secs(n * 3600),
                _ => return Err(bad()),
            })
        })
        .collect()
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn parse<T: std::str::FromStr>(name: &str, default: T) -> Result<T, ServiceError> {
    match var(name) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| ServiceError::Config(format!("{name} has an invalid value: {v:?}"))),
    }
}

/// A count that must be at least 1.
fn positive(name: &str, default: u32) -> Result<u32, ServiceError> {
    match parse(name, default)? {
        0 => Err(ServiceError::Config(format!("{name} must be at least 1"))),
        n => Ok(n),
    }
}

/// Two connections per CPU core of this machine, plus two. A PostgreSQL backend runs a
/// statement on one core; more connections than the cores can serve only take turns. On
/// the benchmark's 2-core box, 6 connections per process did better than 20 in every pair
/// of runs of lists and charges (lists: about 3,900 pages/s instead of 3,300, p99 at 16
/// clients 9 ms instead of 12).
/// A database on a bigger machine of its own may want `PAYGATE_DATABASE_POOL` set higher.
pub fn default_database_pool() -> u32 {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    u32::try_from(cores * 2 + 2).unwrap_or(u32::MAX)
}

fn millis(name: &str, default_ms: u64) -> Result<Duration, ServiceError> {
    parse(name, default_ms).map(Duration::from_millis)
}

impl Settings {
    pub fn from_env() -> Result<Self, ServiceError> {
        let addr: SocketAddr = parse("PAYGATE_ADDR", SocketAddr::from(([127, 0, 0, 1], 8080)))?;
        let simulator_addr: SocketAddr = parse(
            "PAYGATE_SIMULATOR_ADDR",
            SocketAddr::from(([127, 0, 0, 1], 8081)),
        )?;
        let error_rate: f64 = parse("PAYGATE_SIMULATOR_ERROR_RATE", 0.0)?;
        if !(0.0..=1.0).contains(&error_rate) {
            return Err(ServiceError::Config(
                "PAYGATE_SIMULATOR_ERROR_RATE must be between 0 and 1".into(),
            ));
        }
        Ok(Settings {
            addr,
            database_url: var("PAYGATE_DATABASE_URL")
                .unwrap_or_else(|| "sqlite://paygate.db?mode=rwc".into()),
            redis_url: var("PAYGATE_REDIS_URL"),
            redis_prefix: var("PAYGATE_REDIS_PREFIX").unwrap_or_else(|| "paygate".into()),
            job_store: var("PAYGATE_JOB_STORE").unwrap_or_else(|| "paygate-jobs.db".into()),
            simulator_url: var("PAYGATE_SIMULATOR_URL")
                .unwrap_or_else(|| format!("http://{simulator_addr}")),
            simulator_addr,
            simulator_latency: millis("PAYGATE_SIMULATOR_LATENCY_MS", 0)?,
            simulator_error_rate: error_rate,
            simulator_slow: millis("PAYGATE_SIMULATOR_SLOW_MS", 15_000)?,
            acquirer_timeout: millis("PAYGATE_ACQUIRER_TIMEOUT_MS", 10_000)?,
            charge_wait: millis("PAYGATE_CHARGE_WAIT_MS", 5_000)?,
            job_lease: millis("PAYGATE_JOB_LEASE_MS", 30_000)?,
            dispatch_interval: millis("PAYGATE_DISPATCH_INTERVAL_MS", 100)?,
            queue_vacuum_interval: millis("PAYGATE_QUEUE_VACUUM_INTERVAL_MS", 5_000)?,
            resolve_delay: millis("PAYGATE_RESOLVE_DELAY_MS", 2_000)?,
            worker_concurrency: parse("PAYGATE_WORKER_CONCURRENCY", 64)?,
            database_pool: positive("PAYGATE_DATABASE_POOL", default_database_pool())?,
            public_url: var("PAYGATE_PUBLIC_URL").unwrap_or_else(|| format!("http://{addr}")),
            master_key: var("PAYGATE_MASTER_KEY"),
            master_key_file: var("PAYGATE_MASTER_KEY_FILE")
                .unwrap_or_else(|| "paygate-master.key".into()),
            webhook_retry_schedule: parse_schedule(
                &var("PAYGATE_WEBHOOK_RETRY_SCHEDULE")
                    .unwrap_or_else(|| DEFAULT_WEBHOOK_SCHEDULE.into()),
            )?,
            webhook_allow_private: parse("PAYGATE_WEBHOOK_ALLOW_PRIVATE", false)?,
            webhook_timeout: millis("PAYGATE_WEBHOOK_TIMEOUT_MS", 15_000)?,
            schedule_interval: millis("PAYGATE_SCHEDULE_INTERVAL_MS", 30_000)?,
            hold_release_after: Duration::from_secs(
                parse::<u64>("PAYGATE_HOLD_RELEASE_DAYS", 7)?.saturating_mul(DAY_SECS),
            ),
            clearing_after: millis("PAYGATE_CLEARING_AFTER_MS", DAY_SECS * 1000)?,
            settlement_after: millis("PAYGATE_SETTLEMENT_AFTER_MS", DAY_SECS * 1000)?,
            simulator_chargeback_delay: millis("PAYGATE_SIMULATOR_CHARGEBACK_MS", 10_000)?,
            simulator_notify_url: var("PAYGATE_SIMULATOR_NOTIFY_URL"),
            acquirer_notification_secret: var("PAYGATE_ACQUIRER_NOTIFICATION_SECRET"),
            api_key_cache: millis("PAYGATE_API_KEY_CACHE_MS", 2_000)?,
            queue_done_retention: millis("PAYGATE_QUEUE_DONE_RETENTION_MS", 3_600_000)?,
            job_retention: millis("PAYGATE_JOB_RETENTION_MS", 7 * DAY_SECS * 1_000)?,
        })
    }

    /// Where the simulator notifies the gateway (chargebacks).
    pub fn notify_url(&self) -> String {
        self.simulator_notify_url.clone().unwrap_or_else(|| {
            format!(
                "{}/acquirer/notifications",
                self.public_url.trim_end_matches('/')
            )
        })
    }

    pub fn is_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_parse_with_units() {
        let s = parse_schedule(DEFAULT_WEBHOOK_SCHEDULE).unwrap();
        assert_eq!(s.len(), 7);
        assert_eq!(s[0], Duration::from_secs(5));
        assert_eq!(s[6], Duration::from_secs(36_000));
        assert_eq!(parse_schedule("1s,1s,1s").unwrap().len(), 3);
        assert_eq!(
            parse_schedule("150ms").unwrap(),
            vec![Duration::from_millis(150)]
        );
        assert!(parse_schedule("5x").is_err());
        assert!(parse_schedule("s").is_err());
    }
}
