//! The outbox's tables stay lean: on PostgreSQL the worker vacuums them once their dead rows
//! pile up, so that reading an empty outbox stays cheap however many events went through it.
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use serde_json::Value;

use crate::support::{Backend, Options, TestApp, plan_of};

/// The server's own count of the dispatcher's outbox poll: the buffers (pages) it touched.
async fn pages_read_by_the_outbox_poll(db: &DatabaseConnection) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) \
             SELECT event_id FROM event_outbox ORDER BY event_id LIMIT 500",
        ))
        .await
        .expect("explain the poll")
        .expect("a plan");
    let plan: Value = row.try_get_by_index(0).expect("the plan as JSON");
    let plan = &plan[0]["Plan"];
    plan["Shared Hit Blocks"].as_i64().unwrap_or(0)
        + plan["Shared Read Blocks"].as_i64().unwrap_or(0)
}

/// A number the server answers about `table` (the statement's `$1`).
async fn number_about(db: &DatabaseConnection, sql: &str, table: &str) -> i64 {
    db.query_one_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        [table.into()],
    ))
    .await
    .unwrap_or_else(|e| panic!("{sql}: {e}"))
    .unwrap_or_else(|| panic!("{sql}: no row"))
    .try_get_by_index(0)
    .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn vacuums_of(db: &DatabaseConnection, table: &str) -> i64 {
    let sql = "SELECT vacuum_count + autovacuum_count FROM pg_stat_user_tables WHERE relname = $1";
    number_about(db, sql, table).await
}

/// 20,000 outbox rows come and go, as 20,000 events fanned out would leave them, on a
/// connection of its own that is then closed, so that the server counts them at once.
async fn churn_the_outbox(url: &str) {
    let db = sea_orm::Database::connect(url).await.expect("connect");
    db.execute_unprepared(
        "BEGIN; \
         INSERT INTO event_outbox (event_id) SELECT gen_random_uuid() FROM generate_series(1, 20000); \
         DELETE FROM event_outbox; \
         COMMIT",
    )
    .await
    .expect("churn the outbox");
    db.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_worker_vacuums_the_outbox_once_its_dead_rows_pile_up() {
    let Some(app) = TestApp::on_postgres().await else {
        return;
    };
    let db = &app.gw.db;
    let vacuums_before = vacuums_of(db, "event_outbox").await;
    churn_the_outbox(&app.settings.database_url).await;
    let bloated = pages_read_by_the_outbox_poll(db).await;
    assert!(
        bloated >= 50,
        "20,000 dead rows make the empty outbox's poll read {bloated} pages"
    );

    let deadline = Instant::now() + Duration::from_secs(30);
    while vacuums_of(db, "event_outbox").await == vacuums_before {
        assert!(
            Instant::now() < deadline,
            "the worker did not vacuum the outbox within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let lean = pages_read_by_the_outbox_poll(db).await;
    assert!(
        lean <= 5,
        "after the vacuum the empty outbox's poll reads {lean} pages (before: {bloated})"
    );
}

/// An app on PostgreSQL with no worker (so that only the test vacuums), whose outbox has
/// churned; none when the PostgreSQL tests are off.
async fn churned_app_without_worker() -> Option<TestApp> {
    let app = TestApp::on_postgres_without_worker().await?;
    churn_the_outbox(&app.settings.database_url).await;
    Some(app)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tables_with_few_dead_rows_are_left_to_autovacuum() {
    let Some(app) = churned_app_without_worker().await else {
        return;
    };
    let db = &app.gw.db;
    let jobs_before = vacuums_of(db, "jobs").await;
    // The outbox has 20,000 dead rows, the fresh jobs table next to none.
    let vacuumed = service::queue_tables::vacuum_churned(db, 10_000)
        .await
        .expect("vacuum");
    assert_eq!(vacuumed, vec!["event_outbox"]);
    assert_eq!(vacuums_of(db, "jobs").await, jobs_before);
    // Once vacuumed, the outbox has none left to count.
    let again = service::queue_tables::vacuum_churned(db, 10_000)
        .await
        .expect("vacuum");
    assert!(again.is_empty(), "vacuumed again: {again:?}");
}

async fn pages_of(db: &DatabaseConnection, table: &str) -> i64 {
    let sql = "SELECT pg_relation_size($1::regclass) / current_setting('block_size')::bigint";
    number_about(db, sql, table).await
}

/// A vacuum of the churned outbox leaves its empty pages in place: giving them back to the
/// file system takes a lock that every write of an event waits for, and in the benchmark a
/// vacuum spent 3.1 s trying to, during the charges.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_vacuum_leaves_the_outbox_pages_in_place() {
    let Some(app) = churned_app_without_worker().await else {
        return;
    };
    let db = &app.gw.db;
    let pages = pages_of(db, "event_outbox").await;
    assert!(pages >= 50, "20,000 rows took {pages} pages");
    let vacuumed = service::queue_tables::vacuum_churned(db, 1_000)
        .await
        .expect("vacuum");
    assert!(vacuumed.contains(&"event_outbox"), "vacuumed {vacuumed:?}");
    assert_eq!(pages_of(db, "event_outbox").await, pages);
    // The same holds for autovacuum, and for the jobs table: it is the tables' setting.
    let settings = db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT relname::text, array_to_string(reloptions, ',') FROM pg_class \
             WHERE relname IN ('event_outbox', 'jobs') AND relkind = 'r' ORDER BY relname",
        ))
        .await
        .expect("read the tables' settings")
        .into_iter()
        .map(|row| {
            let table: String = row.try_get_by_index(0).expect("a name");
            let options: Option<String> = row.try_get_by_index(1).expect("options");
            (table, options.unwrap_or_default())
        })
        .collect::<Vec<_>>();
    assert_eq!(
        settings,
        [
            (
                "event_outbox".to_string(),
                "vacuum_truncate=false".to_string()
            ),
            ("jobs".to_string(), "vacuum_truncate=false".to_string()),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_has_no_dead_rows_to_vacuum() {
    let app = TestApp::spawn_with(Backend::Sqlite, Options::default()).await;
    let vacuumed = service::queue_tables::vacuum_churned(&app.gw.db, 0)
        .await
        .expect("nothing to do");
    assert!(vacuumed.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_role_that_does_not_own_the_tables_leaves_them_alone() {
    let Some(app) = churned_app_without_worker().await else {
        return;
    };
    let db = &app.gw.db;
    let before = vacuums_of(db, "event_outbox").await;

    // Roles belong to the whole server: a name of this test's own, dropped at the end. One
    // connection takes it on, as a deployment's role that did not migrate the tables would.
    let role = format!("paygate_test_role_{}", uuid::Uuid::new_v4().simple());
    db.execute_unprepared(&format!("CREATE ROLE {role}"))
        .await
        .expect("create a role");
    let mut options = sea_orm::ConnectOptions::new(app.settings.database_url.clone());
    options.max_connections(1);
    let other = sea_orm::Database::connect(options).await.expect("connect");
    other
        .execute_unprepared(&format!("SET ROLE {role}"))
        .await
        .expect("take on the role");
    let vacuumed = service::queue_tables::vacuum_churned(&other, 0).await;
    other.close().await.expect("close");
    db.execute_unprepared(&format!("DROP ROLE {role}"))
        .await
        .expect("drop the role");

    assert_eq!(vacuumed.expect("no error"), Vec::<&str>::new());
    assert_eq!(vacuums_of(db, "event_outbox").await, before);
}

/// A job row of `status`, due at `run_at` and last changed at `updated_at`.
fn job_row(
    status: &str,
    run_at: chrono::DateTime<chrono::Utc>,
    updated_at: chrono::DateTime<chrono::Utc>,
) -> entity::job::ActiveModel {
    let payload = service::jobs::JobPayload::DeliverWebhook {
        delivery_id: uuid::Uuid::now_v7(),
    };
    let mut row = service::jobs::new_dispatched(&payload).expect("a job row");
    row.status = status.into();
    row.run_at = run_at;
    row.updated_at = updated_at;
    row.into()
}

async fn job_ids(db: &DatabaseConnection) -> std::collections::BTreeSet<uuid::Uuid> {
    use sea_orm::EntityTrait;
    entity::job::Entity::find()
        .all(db)
        .await
        .expect("read the jobs")
        .into_iter()
        .map(|j| j.id)
        .collect()
}

/// Finished jobs go once past the retention, a batch at a time; jobs that are not finished,
/// failed ones, and those finished within the retention stay.
async fn finished_jobs_past_their_retention_are_deleted(app: TestApp) {
    use sea_orm::EntityTrait;
    use service::jobs::{DISPATCHED, DONE, FAILED, PENDING};

    let db = &app.gw.db;
    let now = service::db::now();
    let old = now - chrono::Duration::days(8);
    let recent = now - chrono::Duration::hours(1);
    let before = job_ids(db).await;
    // More than one statement's batch (5,000) of old finished jobs.
    let expired: Vec<_> = (0..5_001).map(|_| job_row(DONE, old, old)).collect();
    for chunk in expired.chunks(500) {
        entity::job::Entity::insert_many(chunk.to_vec())
            .exec(db)
            .await
            .expect("insert old finished jobs");
    }
    let expired_ids: std::collections::BTreeSet<_> =
        job_ids(db).await.difference(&before).copied().collect();
    assert_eq!(expired_ids.len(), 5_001);
    let kept = [
        job_row(DONE, recent, recent),
        // Due long ago, finished an hour ago: its retention runs from when it finished.
        job_row(DONE, old, recent),
        job_row(PENDING, old, old),
        job_row(DISPATCHED, old, old),
        job_row(FAILED, old, old),
    ];
    entity::job::Entity::insert_many(kept.to_vec())
        .exec(db)
        .await
        .expect("insert the jobs to keep");
    let all = job_ids(db).await;
    let kept_ids: std::collections::BTreeSet<_> = all.difference(&expired_ids).copied().collect();
    assert_eq!(kept_ids.len(), before.len() + 5);

    // A retention of 0 keeps everything.
    let mut forever = app.gw.clone();
    let mut settings = (*forever.settings).clone();
    settings.job_retention = Duration::ZERO;
    forever.settings = std::sync::Arc::new(settings);
    let none = worker::purge_job_history(&forever, &tokio_util::sync::CancellationToken::new())
        .await
        .expect("purge with no retention");
    assert_eq!(none, 0);
    assert_eq!(job_ids(db).await, all);

    // The tests' settings keep 7 days, as the default does.
    let deleted = worker::purge_job_history(&app.gw, &tokio_util::sync::CancellationToken::new())
        .await
        .expect("purge");
    assert_eq!(deleted, 5_001);
    assert_eq!(job_ids(db).await, kept_ids);
}

crate::on_both_backends_with!(
    finished_jobs_past_their_retention_are_deleted,
    Options {
        worker: false,
        ..Options::default()
    }
);

/// The dispatcher's claim as one connection plans it once (its generic plan) while the
/// statistics say the outbox is empty, as they do after the vacuum of a drained outbox:
/// a scan, each row compared with every id. Then a backlog comes; the claim's own dead rows
/// bring on the worker's vacuum, which records the backlog, and the connection plans the
/// claim again, on the primary key.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_workers_vacuum_replans_a_claim_planned_on_an_empty_outbox() {
    let Some(app) = TestApp::on_postgres_without_worker().await else {
        return;
    };
    let db = &app.gw.db;
    db.execute_unprepared("VACUUM event_outbox")
        .await
        .expect("vacuum the empty outbox");
    // A connection of its own, which keeps its plan of the claim.
    let mut options = sea_orm::ConnectOptions::new(app.settings.database_url.clone());
    options.max_connections(1);
    let conn = sea_orm::Database::connect(options).await.expect("connect");
    conn.execute_unprepared(&format!(
        "SET plan_cache_mode = force_generic_plan; PREPARE claim(bigint) AS {}",
        service::webhooks::claim_events_sql()
    ))
    .await
    .expect("prepare the claim");
    let on_empty = plan_of(&conn, "EXECUTE claim(1000)").await;
    assert!(on_empty.contains("Seq Scan on event_outbox"), "{on_empty}");

    db.execute_unprepared(
        "INSERT INTO event_outbox (event_id) SELECT gen_random_uuid() FROM generate_series(1, 5000)",
    )
    .await
    .expect("a backlog");
    // One claim, whose dead rows the server counts at once (`pg_stat_force_next_flush`:
    // PostgreSQL 15+).
    conn.execute_unprepared("SELECT pg_stat_force_next_flush(); EXECUTE claim(1000)")
        .await
        .expect("claim");
    let waiting: i64 = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT count(*) FROM event_outbox",
        ))
        .await
        .expect("count the outbox")
        .expect("a row")
        .try_get_by_index(0)
        .expect("a count");
    assert_eq!(waiting, 4000, "the claim took 1,000 of 5,000");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let vacuumed =
            service::queue_tables::vacuum_churned(db, service::queue_tables::MIN_DEAD_ROWS)
                .await
                .expect("vacuum");
        if vacuumed.contains(&"event_outbox") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "1,000 dead rows brought on no vacuum"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let replanned = plan_of(&conn, "EXECUTE claim(1000)").await;
    assert!(
        replanned.contains("using event_outbox_pkey on event_outbox"),
        "{replanned}"
    );
    assert!(
        !replanned.contains("Seq Scan on event_outbox"),
        "{replanned}"
    );
    conn.close().await.expect("close");
}
