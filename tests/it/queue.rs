//! The job queue on Redis: a push wakes a consumer waiting for work (PostgreSQL + Redis mode).
use std::time::Duration;

use futures::StreamExt;
use service::jobs::JobRef;

use crate::support::{Backend, Options, TestApp};

/// A reference naming no job: no consumer runs here anyway.
fn unnamed_job() -> JobRef {
    JobRef {
        job_id: uuid::Uuid::now_v7(),
        dispatch: 1,
        acquirer_call: None,
    }
}

/// The consumer's wakeups follow the channel `push_all` announces pushes on
/// (`<prefix>:jobs:pushed`): a push is heard. (Were the channel wrong, consumers would
/// silently fall back to their slow poll.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_is_heard_by_the_waiting_consumer() {
    let Some(app) = TestApp::on_postgres_without_worker().await else {
        return;
    };
    let mut wakeups = app.gw.queue.wakeups().expect("wakeups on Redis");
    // The listener subscribes in the background: push until a push is heard.
    let heard = async {
        loop {
            app.gw
                .queue
                .push_all(vec![unnamed_job()])
                .await
                .expect("pushed");
            if tokio::time::timeout(Duration::from_millis(200), wakeups.next())
                .await
                .is_ok()
            {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), heard)
        .await
        .expect("a push is heard within 10 s");
}

#[tokio::test]
async fn the_embedded_queue_has_no_wakeups() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        Options {
            worker: false,
            ..Options::default()
        },
    )
    .await;
    assert!(app.gw.queue.wakeups().is_none());
}

/// Pushes that come while an announcement is under way are announced together after it:
/// a burst of pushes makes fewer announcements than pushes (one `PUBLISH` per push was a
/// Redis round trip, and a wakeup of every listening worker, per charge), and the burst is
/// still heard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_pushes_is_announced_in_fewer_announcements() {
    let Some(app) = TestApp::on_postgres_without_worker().await else {
        return;
    };
    let client = redis::Client::open(crate::support::redis_url()).unwrap();
    let mut pubsub = client.get_async_pubsub().await.unwrap();
    let channel = format!("{}:jobs:pushed", app.gw.settings.redis_prefix);
    pubsub.subscribe(&channel).await.unwrap();
    let mut heard = pubsub.into_on_message();
    // A lone push is announced.
    app.gw
        .queue
        .push_all(vec![unnamed_job()])
        .await
        .expect("pushed");
    tokio::time::timeout(Duration::from_secs(5), heard.next())
        .await
        .expect("a push is announced")
        .expect("the channel is open");

    const PUSHES: usize = 200;
    let pushes = (0..PUSHES).map(|_| app.gw.queue.push_all(vec![unnamed_job()]));
    for pushed in futures::future::join_all(pushes).await {
        pushed.expect("pushed");
    }
    let mut announcements = 0;
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(500), heard.next()).await {
        announcements += 1;
    }
    assert!(
        (1..PUSHES).contains(&announcements),
        "{announcements} announcements for {PUSHES} pushes"
    );
}
