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
    /// First wait before asking the acquirer about a pending operation (`PAYGATE_RESOLVE_DELAY_MS`).
    pub resolve_delay: Duration,
    /// Jobs run at once by one worker process (`PAYGATE_WORKER_CONCURRENCY`).
    pub worker_concurrency: usize,
    /// Database pool size (`PAYGATE_DATABASE_POOL`); SQLite always uses one writer connection.
    pub database_pool: u32,
    /// The URL buyers and GraphiQL users reach the API at (`PAYGATE_PUBLIC_URL`).
    pub public_url: String,
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
            dispatch_interval: millis("PAYGATE_DISPATCH_INTERVAL_MS", 500)?,
            resolve_delay: millis("PAYGATE_RESOLVE_DELAY_MS", 2_000)?,
            worker_concurrency: parse("PAYGATE_WORKER_CONCURRENCY", 64)?,
            database_pool: parse("PAYGATE_DATABASE_POOL", 20)?,
            public_url: var("PAYGATE_PUBLIC_URL").unwrap_or_else(|| format!("http://{addr}")),
        })
    }

    pub fn is_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }
}
