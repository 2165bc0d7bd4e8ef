//! The test harness: a real Paygate (API on port 0, worker, acquirer simulator on port 0)
//! on its own database, spoken to over HTTP like any client.
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};
use service::{Gateway, Settings};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The PostgreSQL + Redis tests run when this is set (`.ci/run` always sets it); they then
/// fail, never skip, when the servers are unreachable.
pub const PG_ENV: &str = "PAYGATE_TEST_POSTGRES_URL";
pub const REDIS_ENV: &str = "PAYGATE_TEST_REDIS_URL";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    PostgresRedis,
}

#[derive(Clone, Debug)]
pub struct Options {
    pub worker: bool,
    pub charge_wait: Duration,
    pub acquirer_timeout: Duration,
    pub slow_delay: Duration,
    pub job_lease: Duration,
    pub resolve_delay: Duration,
    /// Overrides the Redis URL (a private redis-server).
    pub redis_url: Option<String>,
    /// Latency the simulator adds to every answer.
    pub sim_latency: Duration,
    pub webhook_schedule: Vec<Duration>,
    pub webhook_allow_private: bool,
    pub hold_release_after: Duration,
    pub clearing_after: Duration,
    pub settlement_after: Duration,
    pub chargeback_delay: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            worker: true,
            charge_wait: Duration::from_secs(10),
            acquirer_timeout: Duration::from_secs(5),
            slow_delay: Duration::from_secs(15),
            job_lease: Duration::from_secs(10),
            resolve_delay: Duration::from_millis(200),
            redis_url: None,
            sim_latency: Duration::ZERO,
            webhook_schedule: vec![Duration::from_millis(300); 3],
            webhook_allow_private: true,
            hold_release_after: Duration::from_secs(7 * 86_400),
            clearing_after: Duration::from_secs(86_400),
            settlement_after: Duration::from_secs(86_400),
            chargeback_delay: Duration::from_millis(500),
        }
    }
}

pub struct TestApp {
    pub url: String,
    pub sim_url: String,
    pub key: String,
    pub live_key: String,
    pub gw: Gateway,
    pub settings: Settings,
    pub client: reqwest::Client,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
    /// Dropped last: the test's own PostgreSQL database goes with it.
    _database: Option<TestDatabase>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Whether the PostgreSQL + Redis tests are switched on.
pub fn pg_enabled() -> bool {
    std::env::var(PG_ENV).is_ok_and(|v| !v.is_empty())
}

/// A test's own PostgreSQL database, dropped when the test ends so that runs do not pile
/// databases up on the server; kept (and named) when the test failed, to look into.
pub struct TestDatabase {
    admin_url: String,
    name: String,
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kept the failed test's database {}", self.name);
            return;
        }
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Its own thread and runtime: this runs inside the test's runtime, which cannot be
        // blocked on. FORCE ends the connections the app's pool still holds.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                use sea_orm::ConnectionTrait;
                let db = sea_orm::Database::connect(admin_url).await.ok()?;
                let done = db
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await;
                db.close().await.ok();
                done.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(_))) {
            eprintln!("could not drop the test database {}", self.name);
        }
    }
}

/// Makes a fresh PostgreSQL database for one test and returns its URL.
pub async fn fresh_postgres_database() -> (String, TestDatabase) {
    let admin = std::env::var(PG_ENV).expect("PAYGATE_TEST_POSTGRES_URL");
    let name = format!("paygate_test_{}", Uuid::new_v4().simple());
    let db = sea_orm::Database::connect(admin.clone())
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {admin} is unreachable: {e}"));
    use sea_orm::ConnectionTrait;
    db.execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create test database");
    db.close().await.ok();
    let base = admin
        .rsplit_once('/')
        .map(|(b, _)| b.to_string())
        .expect("database URL with a path");
    let url = format!("{base}/{name}");
    (
        url,
        TestDatabase {
            admin_url: admin,
            name,
        },
    )
}

/// PostgreSQL's plan for `statement` on `conn` (an `EXPLAIN` of it), its lines joined.
pub async fn plan_of(conn: &impl sea_orm::ConnectionTrait, statement: &str) -> String {
    conn.query_all_raw(sea_orm::Statement::from_string(
        sea_orm::DbBackend::Postgres,
        format!("EXPLAIN {statement}"),
    ))
    .await
    .unwrap_or_else(|e| panic!("EXPLAIN {statement}: {e}"))
    .iter()
    .map(|row| {
        row.try_get_by_index::<String>(0)
            .expect("a line of the plan")
    })
    .collect::<Vec<_>>()
    .join("\n")
}

pub fn redis_url() -> String {
    std::env::var(REDIS_ENV).unwrap_or_else(|_| panic!("{REDIS_ENV} must be set with {PG_ENV}"))
}

pub fn test_settings(
    dir: &std::path::Path,
    backend: Backend,
    database_url: String,
    opts: &Options,
) -> Settings {
    Settings {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        database_url,
        redis_url: match backend {
            Backend::Sqlite => None,
            Backend::PostgresRedis => Some(opts.redis_url.clone().unwrap_or_else(redis_url)),
        },
        redis_prefix: format!("paygate-test-{}", Uuid::new_v4().simple()),
        job_store: dir.join("jobs.db").to_string_lossy().into_owned(),
        simulator_url: String::new(),
        simulator_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        simulator_latency: Duration::ZERO,
        simulator_error_rate: 0.0,
        simulator_slow: opts.slow_delay,
        acquirer_timeout: opts.acquirer_timeout,
        charge_wait: opts.charge_wait,
        job_lease: opts.job_lease,
        dispatch_interval: Duration::from_millis(100),
        queue_vacuum_interval: Duration::from_millis(500),
        resolve_delay: opts.resolve_delay,
        worker_concurrency: 32,
        database_pool: 10,
        public_url: String::new(),
        master_key: Some("11".repeat(32)),
        master_key_file: dir.join("master.key").to_string_lossy().into_owned(),
        webhook_retry_schedule: opts.webhook_schedule.clone(),
        webhook_allow_private: opts.webhook_allow_private,
        webhook_timeout: Duration::from_secs(5),
        schedule_interval: Duration::from_millis(200),
        hold_release_after: opts.hold_release_after,
        clearing_after: opts.clearing_after,
        settlement_after: opts.settlement_after,
        simulator_chargeback_delay: opts.chargeback_delay,
        simulator_notify_url: None,
        acquirer_notification_secret: None,
        api_key_cache: Duration::from_secs(2),
        queue_done_retention: Duration::from_secs(3600),
        job_retention: Duration::from_secs(7 * 86_400),
    }
}

/// The secret the gateway of `settings` checks acquirer notifications with.
pub fn notification_secret(settings: &Settings) -> String {
    let key = service::secrets::MasterKey::load(settings).expect("master key");
    service::secrets::acquirer_notification_secret(settings, &key).expect("secret")
}

/// Starts a simulator on port 0 and returns its URL.
pub async fn start_simulator(
    config: simulator::SimulatorConfig,
    shutdown: CancellationToken,
) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind simulator");
    let addr = listener.local_addr().expect("simulator addr");
    tokio::spawn(async move {
        simulator::serve(listener, config, async move { shutdown.cancelled().await }).await
    });
    format!("http://{addr}")
}

impl TestApp {
    /// An app on PostgreSQL + Redis with the default options, for tests of what only
    /// PostgreSQL does; None when those tests are off.
    pub async fn on_postgres() -> Option<TestApp> {
        if !pg_enabled() {
            return None;
        }
        Some(TestApp::spawn_with(Backend::PostgresRedis, Options::default()).await)
    }

    /// [`TestApp::on_postgres`] with no worker: nothing consumes what is pushed, and only
    /// the test does the worker's chores (vacuuming the outbox, say).
    pub async fn on_postgres_without_worker() -> Option<TestApp> {
        if !pg_enabled() {
            return None;
        }
        let options = Options {
            worker: false,
            ..Options::default()
        };
        Some(TestApp::spawn_with(Backend::PostgresRedis, options).await)
    }

    pub async fn spawn_with(backend: Backend, opts: Options) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let (database_url, database) = match backend {
            Backend::Sqlite => (
                format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("paygate.db").display()
                ),
                None,
            ),
            Backend::PostgresRedis => {
                let (url, database) = fresh_postgres_database().await;
                (url, Some(database))
            }
        };
        let mut settings = test_settings(dir.path(), backend, database_url, &opts);
        let shutdown = CancellationToken::new();
        let listener = tokio::net::TcpListener::bind(settings.addr)
            .await
            .expect("bind api");
        let addr = listener.local_addr().expect("api addr");
        settings.public_url = format!("http://{addr}");
        settings.simulator_url = start_simulator(
            simulator::SimulatorConfig {
                latency: opts.sim_latency,
                error_rate: 0.0,
                slow_delay: opts.slow_delay,
                chargeback_delay: opts.chargeback_delay,
                notify: Some(simulator::Notify {
                    url: settings.notify_url(),
                    secret: notification_secret(&settings),
                }),
            },
            shutdown.clone(),
        )
        .await;
        let gw = Gateway::connect(settings.clone(), true)
            .await
            .unwrap_or_else(|e| panic!("gateway connects: {e}"));
        if opts.worker {
            tokio::spawn(worker::run(gw.clone(), shutdown.clone()));
        }
        let app = api::Application::from_listener(gw.clone(), listener);
        tokio::spawn(app.run(shutdown.clone()));
        let made = service::merchants::create_merchant(&gw.db, "Test merchant")
            .await
            .expect("merchant");
        TestApp {
            url: format!("http://{addr}"),
            sim_url: settings.simulator_url.clone(),
            key: made.test_key.expose().to_string(),
            live_key: made.live_key.expose().to_string(),
            gw,
            settings,
            client: reqwest::Client::new(),
            shutdown,
            _dir: dir,
            _database: database,
        }
    }

    /// Sends a GraphQL request with `key`; returns the HTTP status and the JSON body.
    pub async fn gql_as(&self, key: Option<&str>, query: &str, variables: Value) -> (u16, Value) {
        let mut req = self
            .client
            .post(format!("{}/graphql", self.url))
            .json(&json!({"query": query, "variables": variables}));
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        let res = req.send().await.expect("request sent");
        let status = res.status().as_u16();
        (status, res.json().await.expect("JSON body"))
    }

    /// Sends GraphQL with the test key and returns `data`, failing on any GraphQL error.
    pub async fn gql(&self, query: &str, variables: Value) -> Value {
        let (status, body) = self.gql_as(Some(&self.key), query, variables).await;
        assert_eq!(status, 200, "HTTP status for {query}: {body}");
        assert!(
            body.get("errors").is_none(),
            "GraphQL errors for {query}: {body}"
        );
        body["data"].clone()
    }

    pub async fn create_customer(&self) -> String {
        let data = self
            .gql(
                "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { customer { id } errors { code } } }",
                json!({"i": {"email": "buyer@example.com", "name": "Ada Buyer"}}),
            )
            .await;
        data["createCustomer"]["customer"]["id"]
            .as_str()
            .expect("customer id")
            .to_string()
    }

    pub async fn add_card(&self, customer_id: &str, number: &str) -> String {
        let data = self
            .gql(
                "mutation($i: AddTestCardInput!) { addTestCard(input: $i) { paymentMethod { id } errors { code message } } }",
                json!({"i": {"customerId": customer_id, "number": number, "expMonth": 12, "expYear": 2030}}),
            )
            .await;
        data["addTestCard"]["paymentMethod"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("card added: {data}"))
            .to_string()
    }

    /// A customer with one stored card.
    pub async fn customer_with_card(&self, number: &str) -> String {
        let c = self.create_customer().await;
        self.add_card(&c, number).await;
        c
    }

    /// Runs chargeCustomer and returns its payload.
    pub async fn charge(
        &self,
        customer_id: &str,
        amount: i64,
        capture: &str,
        key: Option<&str>,
    ) -> Value {
        let data = self
            .gql(
                &format!("mutation($i: ChargeCustomerInput!) {{ chargeCustomer(input: $i) {{ {PAYLOAD} }} }}"),
                json!({"i": {"customerId": customer_id, "amount": amount, "currency": "EUR",
                             "captureMethod": capture, "idempotencyKey": key}}),
            )
            .await;
        data["chargeCustomer"].clone()
    }

    /// Runs a payment mutation (capturePayment, refundPayment, …) and returns its payload.
    pub async fn payment_mutation(&self, name: &str, input: Value) -> Value {
        let input_type = match name {
            "capturePayment" | "releasePayment" => "AmountInput",
            "refundPayment" => "RefundPaymentInput",
            "cancelPayment" | "activatePayment" => "CancelPaymentInput",
            other => panic!("unknown mutation {other}"),
        };
        let data = self
            .gql(
                &format!("mutation($i: {input_type}!) {{ {name}(input: $i) {{ {PAYLOAD} }} }}"),
                json!({"i": input}),
            )
            .await;
        data[name].clone()
    }

    pub async fn payment(&self, id: &str) -> Value {
        let data = self
            .gql(
                &format!("query($id: ID!) {{ payment(id: $id) {{ {PAYMENT} }} }}"),
                json!({"id": id}),
            )
            .await;
        data["payment"].clone()
    }

    /// Polls until the payment reaches `status`, or fails after `within`.
    pub async fn wait_for_status(&self, id: &str, status: &str, within: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let p = self.payment(id).await;
            if p["status"] == status {
                return p;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "payment never became {status}: {p}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The simulator's count of money calls that took effect.
    pub async fn acquirer_effects(&self) -> u64 {
        let v: Value = self
            .client
            .get(format!("{}/v1/stats", self.sim_url))
            .send()
            .await
            .expect("stats")
            .json()
            .await
            .expect("json");
        v["effects"].as_u64().expect("effects")
    }
}

pub const PAYMENT: &str = "id status amount currency authorizedAmount capturedAmount releasedAmount refundedAmount \
    refundableAmount capturableAmount errorCode customerId clientReference \
    items { name unitPrice vatRate quantity total vatAmount } \
    operations { kind amount status errorCode } statusHistory { status reason }";

pub const PAYLOAD: &str = "payment { id status amount currency authorizedAmount capturedAmount releasedAmount \
    refundedAmount refundableAmount capturableAmount errorCode operations { kind amount status errorCode } \
    statusHistory { status reason } } errors { code field message }";

/// Declares a test that runs once on the embedded default (SQLite, apalis-sqlite) and once
/// on PostgreSQL + Redis when those tests are switched on.
#[macro_export]
macro_rules! on_both_backends {
    ($name:ident) => {
        $crate::on_both_backends_with!($name, $crate::support::Options::default());
    };
}

/// Like `on_both_backends!`, with the app spawned with these `Options`.
#[macro_export]
macro_rules! on_both_backends_with {
    ($name:ident, $opts:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn on_sqlite() {
                super::$name(
                    $crate::support::TestApp::spawn_with($crate::support::Backend::Sqlite, $opts)
                        .await,
                )
                .await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn on_postgres_and_redis() {
                if !$crate::support::pg_enabled() {
                    return;
                }
                super::$name(
                    $crate::support::TestApp::spawn_with(
                        $crate::support::Backend::PostgresRedis,
                        $opts,
                    )
                    .await,
                )
                .await;
            }
        }
    };
}
