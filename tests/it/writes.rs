//! A batch of writes commits whole or not at all, on both databases: on PostgreSQL it is
//! one statement, on SQLite a transaction of its own. A charge's rows go this way, so a
//! failure halfway must leave no payment without its operation or job.
use sea_orm::{EntityTrait, PaginatorTrait};
use service::jobs::{self, JobPayload};
use service::writes::Writes;
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::TestApp;

fn job() -> entity::job::Model {
    jobs::new_dispatched(&JobPayload::ResolveOperation {
        operation_id: Uuid::now_v7(),
    })
    .expect("a job row")
}

async fn jobs_count(app: &TestApp) -> u64 {
    entity::job::Entity::find()
        .count(&app.gw.db)
        .await
        .expect("count jobs")
}

async fn a_batch_commits_whole_or_not_at_all(app: TestApp) {
    let before = jobs_count(&app).await;

    let (first, second) = (job(), job());
    let mut writes = Writes::new();
    writes.add(jobs::insert_statement(&first));
    writes.add(jobs::insert_statement(&second));
    writes
        .commit(&app.gw.autocommit().await.unwrap())
        .await
        .expect("the batch commits");
    assert_eq!(jobs_count(&app).await, before + 2);
    for row in [&first, &second] {
        let stored = entity::job::Entity::find_by_id(row.id)
            .one(&app.gw.db)
            .await
            .expect("read the job")
            .expect("the job was written");
        assert_eq!(&stored, row, "the row as built is the row as stored");
    }

    // The second write repeats the first batch's primary key: the third row must not stay.
    let third = job();
    let mut writes = Writes::new();
    writes.add(jobs::insert_statement(&third));
    writes.add(jobs::insert_statement(&first));
    assert!(
        writes
            .commit(&app.gw.autocommit().await.unwrap())
            .await
            .is_err(),
        "a duplicate key fails"
    );
    assert_eq!(
        jobs_count(&app).await,
        before + 2,
        "nothing of the failed batch stays"
    );
    assert!(
        entity::job::Entity::find_by_id(third.id)
            .one(&app.gw.db)
            .await
            .expect("read the job")
            .is_none()
    );
}
on_both_backends!(a_batch_commits_whole_or_not_at_all);

/// PostgreSQL: a batch asserted on a guard's row commits whole when the guard finds it, and
/// writes nothing at all when it does not; the held connection is kept after the refusal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_asserted_on_a_guard_commits_only_when_the_guard_finds_its_row() {
    use sea_orm::sea_query::{Expr, ExprTrait, Query};
    use sea_orm::{ConnectionTrait, Statement};

    let Some(app) = TestApp::on_postgres_without_worker().await else {
        return;
    };
    let before = jobs_count(&app).await;
    let guard = |value: i32| {
        Query::select()
            .expr(Expr::val(1))
            .and_where(Expr::val(value).eq(1))
            .to_owned()
    };
    let conn = app.gw.autocommit().await.unwrap();
    let backend_pid = || async {
        conn.query_one_raw(Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT pg_backend_pid() AS pid",
        ))
        .await
        .expect("the backend's pid")
        .expect("a row")
        .try_get::<i32>("", "pid")
        .expect("pid")
    };
    let pid = backend_pid().await;

    let refused = (job(), job());
    let mut writes = Writes::new();
    writes.add(jobs::insert_statement(&refused.0));
    writes.add(jobs::insert_statement(&refused.1));
    let written = writes
        .commit_if_found(&conn, guard(0))
        .await
        .expect("a guard that finds nothing is no error");
    assert!(!written, "the guard found nothing");
    assert_eq!(jobs_count(&app).await, before, "nothing was written");
    assert_eq!(
        backend_pid().await,
        pid,
        "the connection is kept after the server refused the batch"
    );

    let mut writes = Writes::new();
    writes.add(jobs::insert_statement(&refused.0));
    writes.add(jobs::insert_statement(&refused.1));
    let written = writes
        .commit_if_found(&conn, guard(1))
        .await
        .expect("the batch commits");
    assert!(written, "the guard found its row");
    assert_eq!(jobs_count(&app).await, before + 2, "both rows were written");
}
