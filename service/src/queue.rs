//! The job queue: apalis-redis in production, apalis-sqlite (a file of its own) embedded.
//! It carries only [`JobRef`]s; the outbox rows in the main database are the truth.
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use apalis::prelude::TaskSink;
use apalis_redis::RedisStorage;
use apalis_sqlite::SqliteStorage;
use futures::Stream;
use futures::task::AtomicWaker;
use redis::aio::ConnectionManager;
use tokio::sync::mpsc;

use crate::error::{Result, ServiceError};
use crate::jobs::JobRef;
use crate::settings::Settings;

/// The keys apalis-redis keeps finished jobs under, and the channel pushes are announced on.
#[derive(Clone, Debug)]
pub struct RedisKeys {
    done: String,
    data: String,
    meta: String,
    /// Where [`JobQueue::push_all`] announces its pushes, for [`JobQueue::wakeups`].
    /// (apalis-redis's own announcement, `tasks:<list>:available`, is made only for a job
    /// without a time, and it gives every job pushed the time of its push.)
    pushed: String,
}

/// Members of the done set looked at per call of [`SWEEP_DONE`].
const SWEEP_CHUNK: u32 = 500;

/// One step of a sweep: SSCAN of the done set from a cursor; each job done before the cutoff
/// (seconds) loses its data entry, its metadata and result, and its membership. Returns the
/// next cursor and how many went.
const SWEEP_DONE: &str = r#"
local scan = redis.call('SSCAN', KEYS[1], ARGV[1], 'COUNT', ARGV[2])
local cutoff = tonumber(ARGV[3])
local swept = 0
for _, id in ipairs(scan[2]) do
  local meta = KEYS[3] .. ':' .. id
  local done_at = tonumber(redis.call('HGET', meta, 'done_at'))
  if done_at == nil or done_at <= cutoff then
    redis.call('HDEL', KEYS[2], id)
    redis.call('HDEL', KEYS[3] .. ':result', id)
    redis.call('DEL', meta)
    redis.call('SREM', KEYS[1], id)
    swept = swept + 1
  end
end
return {scan[1], swept}
"#;

/// How long a push may take before the job is left to the dispatcher.
const PUSH_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub enum JobQueue {
    Redis {
        storage: RedisStorage<JobRef>,
        conn: ConnectionManager,
        /// For the listener of [`JobQueue::wakeups`]. Boxed: it is large, and the enum is
        /// as large as its largest variant.
        client: Box<redis::Client>,
        keys: RedisKeys,
        /// Tells the announcer (see [`announcer`]) that jobs were pushed.
        announce: mpsc::Sender<()>,
    },
    Sqlite {
        storage: SqliteStorage<JobRef>,
    },
}

impl JobQueue {
    pub async fn connect(settings: &Settings) -> Result<Self> {
        match &settings.redis_url {
            Some(url) => {
                let client = redis::Client::open(url.as_str())
                    .map_err(|e| ServiceError::Config(format!("PAYGATE_REDIS_URL: {e}")))?;
                let config = redis::aio::ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(Duration::from_secs(2)))
                    .set_response_timeout(Some(Duration::from_secs(5)))
                    .set_number_of_retries(2);
                let conn = ConnectionManager::new_with_config(client.clone(), config)
                    .await
                    .map_err(|e| ServiceError::Internal(format!("redis: {e}")))?;
                // A fetch takes up to 10 jobs (apalis's batch, which also sizes its batches of
                // acknowledgements: larger ones held jobs for seconds in a benchmark), so the
                // worker polls often (see worker::consume). A job pushed to an idle consumer
                // was sometimes fetched only at its next heartbeat (seen as 5 s stalls with a
                // 5 s heartbeat), so the heartbeat is short; a consumer is deemed dead after
                // 30 s without one, like a job's lease.
                let config = apalis_redis::Config::default()
                    .queue(format!("{}:jobs", settings.redis_prefix))
                    .heartbeat_interval(Duration::from_millis(100))
                    .missed_heartbeats(300);
                let keys = RedisKeys {
                    done: config.done_jobs_set(),
                    data: config.job_data_hash(),
                    meta: config.job_meta_hash(),
                    pushed: format!("{}:jobs:pushed", settings.redis_prefix),
                };
                let storage = RedisStorage::new(conn.clone()).with_config(config);
                let announce = announcer(conn.clone(), keys.pushed.clone());
                Ok(JobQueue::Redis {
                    storage,
                    conn,
                    client: Box::new(client),
                    keys,
                    announce,
                })
            }
            None => {
                let opts = apalis_sqlite::SqliteConnectOptions::new()
                    .filename(&settings.job_store)
                    .create_if_missing(true)
                    .busy_timeout(Duration::from_secs(10));
                let pool = apalis_sqlite::SqlitePool::connect_with(opts)
                    .await
                    .map_err(|e| ServiceError::Internal(format!("job store: {e}")))?;
                SqliteStorage::<()>::setup(&pool)
                    .await
                    .map_err(|e| ServiceError::Internal(format!("job store: {e}")))?;
                let storage = SqliteStorage::new(&pool).with_config(
                    apalis_sqlite::Config::default()
                        .queue("paygate-jobs")
                        .heartbeat_interval(Duration::from_secs(5)),
                );
                Ok(JobQueue::Sqlite { storage })
            }
        }
    }

    /// Pushes several jobs in one call to the queue: on Redis one script (atomic: all of
    /// them or none), on SQLite one transaction. A burst of webhook deliveries thus costs
    /// one round trip, not one per job. On Redis a push that succeeded is then announced, to
    /// wake a consumer waiting for work ([`JobQueue::wakeups`]).
    pub async fn push_all(&self, jobs: Vec<JobRef>) -> Result<()> {
        if jobs.is_empty() {
            return Ok(());
        }
        let pushed = match self {
            JobQueue::Redis {
                storage, announce, ..
            } => {
                let mut s = storage.clone();
                let pushed = tokio::time::timeout(PUSH_TIMEOUT, async move {
                    s.push_bulk(jobs).await.map_err(|e| e.to_string())
                })
                .await;
                if matches!(pushed, Ok(Ok(()))) {
                    // Full: an announcement is already due, and it comes after this push.
                    let _ = announce.try_send(());
                }
                pushed
            }
            JobQueue::Sqlite { storage } => {
                let mut s = storage.clone();
                tokio::time::timeout(PUSH_TIMEOUT, async move {
                    s.push_bulk(jobs).await.map_err(|e| e.to_string())
                })
                .await
            }
        };
        match pushed {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(ServiceError::Internal(format!("queue push: {e}"))),
            Err(_) => Err(ServiceError::Internal("queue push timed out".into())),
        }
    }

    /// Deletes what the queue keeps of jobs finished more than `older_than` ago, and returns
    /// how many. The outbox rows are the truth, so these records serve nothing once done,
    /// and apalis keeps them forever (in Redis: a data entry, a metadata hash and a member
    /// of the done set per job). On Redis it goes through the done set in chunks, so Redis
    /// is never held long.
    pub async fn sweep_done(&self, older_than: Duration) -> Result<u64> {
        match self {
            JobQueue::Redis { conn, keys, .. } => {
                let cutoff = chrono::Utc::now().timestamp()
                    - i64::try_from(older_than.as_secs()).unwrap_or(i64::MAX);
                let script = redis::Script::new(SWEEP_DONE);
                let mut conn = conn.clone();
                let mut cursor = "0".to_string();
                let mut swept = 0u64;
                loop {
                    let (next, n): (String, u64) = script
                        .key(&keys.done)
                        .key(&keys.data)
                        .key(&keys.meta)
                        .arg(&cursor)
                        .arg(SWEEP_CHUNK)
                        .arg(cutoff)
                        .invoke_async(&mut conn)
                        .await
                        .map_err(|e| ServiceError::Internal(format!("redis: {e}")))?;
                    swept += n;
                    if next == "0" {
                        return Ok(swept);
                    }
                    cursor = next;
                }
            }
            JobQueue::Sqlite { storage } => {
                let mut s = storage.clone();
                let n = apalis_core::backend::Vacuum::vacuum_before(&mut s, older_than)
                    .await
                    .map_err(|e| ServiceError::Internal(format!("job store: {e}")))?;
                Ok(n as u64)
            }
        }
    }

    /// On Redis, a stream that wakes a consumer whenever jobs are pushed, so that it fetches
    /// at once instead of at its next poll: [`JobQueue::push_all`] announces every push on a
    /// channel, which a listener started here (and reconnected whenever Redis goes away)
    /// follows. None on SQLite. Announcements are at most once (Redis's pub/sub), so the
    /// consumer still polls, less often.
    pub fn wakeups(&self) -> Option<Wakeups> {
        let JobQueue::Redis { client, keys, .. } = self else {
            return None;
        };
        let wakeups = Wakeups::default();
        let waking = wakeups.clone();
        tokio::spawn(crate::bus::forward(
            redis::Client::clone(client),
            keys.pushed.clone(),
            move |_| waking.wake(),
        ));
        Some(wakeups)
    }

    /// Whether the queue answers (for `/readyz`).
    pub async fn ping(&self) -> Result<()> {
        match self {
            JobQueue::Redis { conn, .. } => {
                let mut c = conn.clone();
                let pong: std::result::Result<String, _> = tokio::time::timeout(
                    Duration::from_secs(2),
                    redis::cmd("PING").query_async(&mut c),
                )
                .await
                .map_err(|_| ServiceError::Internal("redis ping timed out".into()))?;
                pong.map(|_| ())
                    .map_err(|e| ServiceError::Internal(format!("redis: {e}")))
            }
            JobQueue::Sqlite { storage } => sea_orm::sqlx::query("SELECT 1")
                .execute(storage.pool())
                .await
                .map(|_| ())
                .map_err(|e| ServiceError::Internal(format!("job store: {e}"))),
        }
    }
}

/// Starts the task that announces pushes for [`JobQueue::wakeups`], and returns its
/// doorbell. A pusher rings it once its push has succeeded and does not wait for the
/// announcement, which cannot touch the push. Rings that come while an announcement is
/// under way make one more after it, so every push is followed by an announcement while a
/// burst of pushes makes few: under load a `PUBLISH` per push was a Redis round trip, and a
/// wakeup of every listening worker, per charge. Best effort: a consumer that does not hear
/// one finds the jobs at its next poll. The task ends when the last queue handle is dropped.
fn announcer(mut conn: ConnectionManager, channel: String) -> mpsc::Sender<()> {
    let (ring, mut rung) = mpsc::channel(1);
    tokio::spawn(async move {
        while rung.recv().await.is_some() {
            let published = tokio::time::timeout(
                PUSH_TIMEOUT,
                redis::cmd("PUBLISH")
                    .arg(&channel)
                    .arg(1)
                    .query_async::<()>(&mut conn),
            )
            .await;
            if !matches!(published, Ok(Ok(()))) {
                tracing::debug!(%channel, "could not announce a push");
            }
        }
    });
    ring
}

/// Pushes heard (see [`JobQueue::wakeups`]), as a stream of signals. Any number of pushes
/// heard since the consumer last looked make one signal: one fetch takes them all (up to its
/// batch), and the next fetch follows at once while the batches come back full.
#[derive(Clone, Default)]
pub struct Wakeups(Arc<WakeupsInner>);

#[derive(Default)]
struct WakeupsInner {
    heard: AtomicBool,
    waker: AtomicWaker,
}

impl Wakeups {
    fn wake(&self) {
        self.0.heard.store(true, Ordering::Release);
        self.0.waker.wake();
    }
}

impl Stream for Wakeups {
    type Item = ();

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<()>> {
        let inner = &self.0;
        if inner.heard.swap(false, Ordering::AcqRel) {
            return Poll::Ready(Some(()));
        }
        inner.waker.register(cx.waker());
        // A push heard between the check and the registration.
        if inner.heard.swap(false, Ordering::AcqRel) {
            return Poll::Ready(Some(()));
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use futures::task::{ArcWake, waker};

    use super::*;

    #[derive(Default)]
    struct Count(AtomicUsize);

    impl ArcWake for Count {
        fn wake_by_ref(this: &Arc<Self>) {
            this.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn pushes_heard_together_wake_the_consumer_and_make_one_signal() {
        let heard = Wakeups::default();
        let mut stream = heard.clone();
        let woken = Arc::new(Count::default());
        let waker = waker(woken.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(Pin::new(&mut stream).poll_next(&mut cx).is_pending());
        heard.wake();
        heard.wake();
        heard.wake();
        assert!(woken.0.load(Ordering::SeqCst) >= 1, "the consumer is woken");
        assert_eq!(
            Pin::new(&mut stream).poll_next(&mut cx),
            Poll::Ready(Some(()))
        );
        assert!(
            Pin::new(&mut stream).poll_next(&mut cx).is_pending(),
            "three pushes heard before it looked are one signal"
        );
        heard.wake();
        assert_eq!(
            Pin::new(&mut stream).poll_next(&mut cx),
            Poll::Ready(Some(()))
        );
    }
}
