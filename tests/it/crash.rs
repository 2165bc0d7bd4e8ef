//! Jobs survive a killed worker and a Redis that goes away (PostgreSQL + Redis mode, with
//! real processes and a private redis-server).
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::support::{Backend, Options, TestApp, pg_enabled};
use crate::webhooks::{Receiver, create_payment, endpoint};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_redis(port: u16) -> Killed {
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server is installed (the PostgreSQL + Redis tests need it)");
    let server = Killed(child);
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return server;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("private redis-server did not start on {port}");
}

fn worker_process(app: &TestApp) -> Killed {
    let s = &app.settings;
    let child = Command::new(env!("CARGO_BIN_EXE_paygate"))
        .arg("worker")
        .env("PAYGATE_DATABASE_URL", &s.database_url)
        .env(
            "PAYGATE_REDIS_URL",
            s.redis_url.as_deref().unwrap_or_default(),
        )
        .env("PAYGATE_REDIS_PREFIX", &s.redis_prefix)
        .env("PAYGATE_SIMULATOR_URL", &s.simulator_url)
        .env("PAYGATE_JOB_LEASE_MS", "1000")
        .env("PAYGATE_DISPATCH_INTERVAL_MS", "100")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn paygate worker");
    Killed(child)
}

/// The statuses of the acquirer jobs (event fan-out jobs left aside).
async fn job_status(app: &TestApp) -> Vec<String> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
    entity::job::Entity::find()
        .filter(entity::job::Column::Kind.is_in(["acquirer_call", "resolve_operation"]))
        .select_only()
        .column(entity::job::Column::Status)
        .into_tuple()
        .all(&app.gw.db)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_killed_mid_job_loses_nothing_and_charges_once() {
    if !pg_enabled() {
        return;
    }
    let app = TestApp::spawn_with(
        Backend::PostgresRedis,
        Options {
            worker: false,
            charge_wait: Duration::from_millis(300),
            job_lease: Duration::from_secs(1),
            sim_latency: Duration::from_millis(1500),
            ..Options::default()
        },
    )
    .await;
    let c = app.customer_with_card("4242424242424242").await;
    let mut first = worker_process(&app);
    let p = app.charge(&c, 4200, "AUTOMATIC", None).await["payment"].clone();
    assert_eq!(p["status"], "PENDING_CHARGE");
    // The worker process has the job and waits for the (slow) acquirer: kill it.
    tokio::time::sleep(Duration::from_millis(700)).await;
    first.0.kill().expect("kill worker");
    let _ = first.0.wait();
    assert_eq!(job_status(&app).await, vec!["DISPATCHED"]);
    // Another worker takes the job over once its lease has run out.
    let shutdown = CancellationToken::new();
    tokio::spawn(worker::run(app.gw.clone(), shutdown.clone()));
    let p = app
        .wait_for_status(p["id"].as_str().unwrap(), "PAID", Duration::from_secs(20))
        .await;
    assert_eq!(p["capturedAmount"], 4200);
    assert_eq!(app.acquirer_effects().await, 1, "one acquirer effect");
    assert_eq!(job_status(&app).await, vec!["DONE"]);
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redis_that_goes_away_delays_jobs_but_loses_none() {
    if !pg_enabled() {
        return;
    }
    let port = free_port();
    let redis = start_redis(port);
    let app = TestApp::spawn_with(
        Backend::PostgresRedis,
        Options {
            charge_wait: Duration::from_millis(1500),
            job_lease: Duration::from_secs(2),
            redis_url: Some(format!("redis://127.0.0.1:{port}")),
            ..Options::default()
        },
    )
    .await;
    let c = app.customer_with_card("4242424242424242").await;
    let first = app.charge(&c, 100, "AUTOMATIC", None).await["payment"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.wait_for_status(&first, "PAID", Duration::from_secs(20))
        .await;

    drop(redis);
    let ready = app
        .client
        .get(format!("{}/readyz", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 503);
    let p = app.charge(&c, 200, "AUTOMATIC", None).await["payment"].clone();
    assert_eq!(
        p["status"], "PENDING_CHARGE",
        "committed, waiting for the queue"
    );

    let _redis = start_redis(port);
    let p = app
        .wait_for_status(p["id"].as_str().unwrap(), "PAID", Duration::from_secs(30))
        .await;
    assert_eq!(p["capturedAmount"], 200);
    let ready = app
        .client
        .get(format!("{}/readyz", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 200);
    assert_eq!(app.acquirer_effects().await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_lost_from_the_queue_is_handed_out_again() {
    if !pg_enabled() {
        return;
    }
    let app = TestApp::spawn_with(
        Backend::PostgresRedis,
        Options {
            worker: false,
            charge_wait: Duration::from_millis(200),
            job_lease: Duration::from_secs(1),
            ..Options::default()
        },
    )
    .await;
    let c = app.customer_with_card("4242424242424242").await;
    let p = app.charge(&c, 300, "AUTOMATIC", None).await["payment"].clone();
    assert_eq!(p["status"], "PENDING_CHARGE");
    // Lose every queued job of this deployment, as a flushed Redis would.
    let client = redis::Client::open(app.settings.redis_url.clone().unwrap()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}*", app.settings.redis_prefix))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        !keys.is_empty(),
        "the job was queued under the deployment's prefix"
    );
    let _: () = redis::cmd("DEL")
        .arg(&keys)
        .query_async(&mut conn)
        .await
        .unwrap();
    let shutdown = CancellationToken::new();
    tokio::spawn(worker::run(app.gw.clone(), shutdown.clone()));
    let p = app
        .wait_for_status(p["id"].as_str().unwrap(), "PAID", Duration::from_secs(20))
        .await;
    assert_eq!(p["capturedAmount"], 300);
    shutdown.cancel();
}

/// The queue's own records of finished jobs (apalis keeps them forever) are swept: on Redis
/// the data entry, the metadata and the done-set member of each go; the jobs' history in
/// the database stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn finished_jobs_are_swept_from_redis() {
    let Some(app) = TestApp::on_postgres().await else {
        return;
    };
    let c = app.customer_with_card("4242424242424242").await;
    for _ in 0..3 {
        let r = app.charge(&c, 1000, "AUTOMATIC", None).await;
        assert_eq!(r["payment"]["status"], "PAID", "{r}");
    }
    let client = redis::Client::open(crate::support::redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let queue = format!("{}:jobs", app.settings.redis_prefix);
    let done_set = format!("{queue}:done");
    // The worker acknowledges in batches: wait for the three to be recorded done.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let done: Vec<String> = loop {
        let done: Vec<String> = redis::cmd("SMEMBERS")
            .arg(&done_set)
            .query_async(&mut conn)
            .await
            .unwrap();
        if done.len() >= 3 || std::time::Instant::now() > deadline {
            break done;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(done.len() >= 3, "done jobs in Redis: {done:?}");

    // Kept while younger than the retention.
    assert_eq!(
        app.gw
            .queue
            .sweep_done(Duration::from_secs(3600))
            .await
            .unwrap(),
        0
    );
    let swept = app.gw.queue.sweep_done(Duration::ZERO).await.unwrap();
    assert!(swept >= 3, "swept {swept}");

    let left: u64 = redis::cmd("SCARD")
        .arg(&done_set)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(left, 0);
    for id in &done {
        let meta: u64 = redis::cmd("EXISTS")
            .arg(format!("{queue}:meta:{id}"))
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(meta, 0, "metadata of {id} left");
        let data: bool = redis::cmd("HEXISTS")
            .arg(format!("{queue}:data"))
            .arg(id)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(!data, "data of {id} left");
    }
    // The outbox rows, the jobs' history, are untouched.
    let rows = job_status(&app).await;
    assert!(
        rows.iter().filter(|s| s.as_str() == "DONE").count() >= 3,
        "{rows:?}"
    );
}

/// The embedded queue sweeps its finished jobs too.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn finished_jobs_are_swept_from_the_embedded_queue() {
    let app = TestApp::spawn_with(Backend::Sqlite, Options::default()).await;
    let c = app.customer_with_card("4242424242424242").await;
    let r = app.charge(&c, 1000, "AUTOMATIC", None).await;
    assert_eq!(r["payment"]["status"], "PAID", "{r}");
    let store = sea_orm::sqlx::SqlitePool::connect(&format!("sqlite://{}", app.settings.job_store))
        .await
        .unwrap();
    let done = || async {
        sea_orm::sqlx::query_scalar::<_, i64>("SELECT count(*) FROM Jobs WHERE status = 'Done'")
            .fetch_one(&store)
            .await
            .unwrap()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while done().await == 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        done().await >= 1,
        "the job store recorded the charge's job done"
    );
    let swept = app.gw.queue.sweep_done(Duration::ZERO).await.unwrap();
    assert!(swept >= 1, "swept {swept}");
    assert_eq!(done().await, 0);
}

/// Deliveries fanned out while Redis is away are pushed in one call, refused together and
/// every one handed back to the outbox; once Redis is back each event arrives, signed, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deliveries_refused_by_the_queue_together_are_each_delivered_once_it_is_back() {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    if !pg_enabled() {
        return;
    }
    const EVENTS: usize = 20;
    let port = free_port();
    let redis = start_redis(port);
    let app = TestApp::spawn_with(
        Backend::PostgresRedis,
        Options {
            job_lease: Duration::from_secs(2),
            redis_url: Some(format!("redis://127.0.0.1:{port}")),
            ..Options::default()
        },
    )
    .await;
    let receiver = Receiver::start(vec![]).await;
    let (_, secret) = endpoint(&app, &receiver.url, None).await;

    drop(redis);
    let mut payments = Vec::with_capacity(EVENTS);
    for _ in 0..EVENTS {
        payments.push(create_payment(&app).await);
    }
    // Fanned out, refused, handed back: all the deliveries' jobs wait in the outbox with the
    // queue's refusal as their last error (between two of the dispatcher's tries).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let jobs = entity::job::Entity::find()
            .filter(entity::job::Column::Kind.eq("deliver_webhook"))
            .all(&app.gw.db)
            .await
            .unwrap();
        let handed_back = jobs.iter().all(|j| {
            j.status == "PENDING" && j.last_error.as_deref().is_some_and(|e| e.contains("queue"))
        });
        if jobs.len() == EVENTS && handed_back {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the refused deliveries never all went back to the outbox: {:?}",
            jobs.iter()
                .map(|j| (&j.status, &j.last_error))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        receiver.received().is_empty(),
        "nothing sent without the queue"
    );

    let _redis = start_redis(port);
    receiver.wait_for(EVENTS, Duration::from_secs(30)).await;
    // Time for a duplicate to show up, were one on its way.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let got = receiver.received();
    assert_eq!(got.len(), EVENTS, "each event delivered once");
    assert!(got.iter().all(|r| r.signed_by(&secret)), "all signed");
    let mut paid_for: Vec<String> = got
        .iter()
        .map(|r| {
            r.json()["data"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    paid_for.sort();
    payments.sort();
    assert_eq!(paid_for, payments, "one delivery per payment's event");
}
