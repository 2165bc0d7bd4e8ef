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
