//! Everything a request or a job needs: the database, the queue, the acquirer, the settings.
use std::sync::Arc;
use std::time::Duration;

use entity::operation;
use sea_orm::{DatabaseConnection, DbBackend, EntityTrait};
use uuid::Uuid;

use crate::acquirer::{Acquirer, HttpAcquirer};
use crate::autocommit::{Autocommit, Connections};
use crate::bus::Bus;
use crate::customers::DefaultCards;
use crate::error::{Result, ServiceError};
use crate::jobs;
use crate::merchants::KeyCache;
use crate::payments::OperationReads;
use crate::queue::JobQueue;
use crate::secrets::MasterKey;
use crate::settings::Settings;

#[derive(Clone)]
pub struct Gateway {
    pub db: DatabaseConnection,
    pub queue: JobQueue,
    pub acquirer: Arc<dyn Acquirer>,
    pub settings: Arc<Settings>,
    pub master_key: Arc<MasterKey>,
    pub bus: Bus,
    /// The client that sends webhooks.
    pub http: reqwest::Client,
    /// API keys checked a moment ago.
    pub keys: Arc<KeyCache>,
    /// Customers' default cards as last found (see `customers::DefaultCards`).
    pub default_cards: Arc<DefaultCards>,
    /// Connections for statements outside a transaction (see `autocommit`).
    pub held: Arc<Connections>,
    /// The worker's reads of pending operations, batched (PostgreSQL only; see
    /// `payments::OperationReads`).
    pub operation_reads: Option<OperationReads>,
}

impl Gateway {
    /// Connects to the database (migrating it when `migrate` is set) and the queue.
    pub async fn connect(settings: Settings, migrate: bool) -> Result<Gateway> {
        let db = crate::db::connect(&settings).await?;
        if migrate {
            crate::db::migrate(&db).await?;
        }
        let queue = JobQueue::connect(&settings).await?;
        let acquirer = HttpAcquirer::new(&settings.simulator_url, settings.acquirer_timeout)
            .map_err(ServiceError::Config)?;
        let master_key = MasterKey::load(&settings)?;
        let settings_key_ttl = settings.api_key_cache;
        let bus = match &queue {
            JobQueue::Redis { conn, .. } => {
                let url = settings.redis_url.as_deref().unwrap_or_default();
                let client = redis::Client::open(url)
                    .map_err(|e| ServiceError::Config(format!("PAYGATE_REDIS_URL: {e}")))?;
                Bus::redis(client, conn.clone(), &settings.redis_prefix)
            }
            JobQueue::Sqlite { .. } => Bus::local(),
        };
        let http = reqwest::Client::builder()
            .timeout(settings.webhook_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("Paygate-Webhooks/1")
            .build()
            .map_err(|e| ServiceError::Config(format!("webhook client: {e}")))?;
        let held = Arc::new(Connections::new(&db, settings.database_pool));
        let operation_reads = (db.get_database_backend() == DbBackend::Postgres)
            .then(|| OperationReads::start(db.clone(), held.clone()));
        Ok(Gateway {
            db,
            queue,
            acquirer: Arc::new(acquirer),
            settings: Arc::new(settings),
            master_key: Arc::new(master_key),
            bus,
            http,
            keys: Arc::new(KeyCache::new(settings_key_ttl)),
            default_cards: Arc::default(),
            held,
            operation_reads,
        })
    }

    /// A connection for statements that stand alone, outside any transaction: reads, and
    /// writes that are one atomic statement. Take it for one statement (or a few in a row),
    /// never while waiting for another.
    pub async fn autocommit(&self) -> Result<Autocommit<'_>> {
        Ok(self.held.get(&self.db).await?)
    }

    /// Pushes a committed job inserted as handed out ([`jobs::insert_dispatched`]); the
    /// request path's way, right after its commit.
    pub async fn push(&self, row: &entity::job::Model) {
        self.push_refs(vec![jobs::JobRef::of(row, row.dispatches)])
            .await;
    }

    /// Pushes committed jobs inserted as handed out, in one call to the queue: a burst of
    /// webhook deliveries costs one round trip, not one per job.
    pub async fn push_all(&self, rows: &[entity::job::Model]) {
        let refs = rows
            .iter()
            .map(|row| jobs::JobRef::of(row, row.dispatches))
            .collect();
        self.push_refs(refs).await;
    }

    /// Marks committed jobs dispatched and pushes them (the dispatcher's way), in one call
    /// to the queue. Each mark is conditional on the row being as read, so two hand-outs of
    /// one row push it once.
    pub async fn hand_out(&self, rows: &[entity::job::Model]) {
        let mut refs = Vec::with_capacity(rows.len());
        for row in rows {
            match jobs::mark_dispatched(&self.db, row).await {
                Ok(Some(job_ref)) => refs.push(job_ref),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(job_id = %row.id, error = %e, "could not mark a job dispatched");
                }
            }
        }
        self.push_refs(refs).await;
    }

    /// Hands jobs' references to the queue. If the queue refuses them, the jobs go back to
    /// the outbox for the dispatcher's next tick: nothing is lost, only delayed.
    async fn push_refs(&self, refs: Vec<jobs::JobRef>) {
        let ids: Vec<Uuid> = refs.iter().map(|r| r.job_id).collect();
        if let Err(e) = self.queue.push_all(refs).await {
            tracing::warn!(jobs = ids.len(), error = %e, "queue refused jobs; the dispatcher will retry");
            for job_id in ids {
                if let Err(e) = jobs::mark_undispatched(&self.db, job_id, &e.to_string()).await {
                    tracing::warn!(%job_id, error = %e, "could not hand a job back");
                }
            }
        }
    }

    /// Pushes an operation's job (committed, inserted as handed out) and waits until the
    /// operation has a definite result or its first acquirer call ended without one, up to
    /// the charge deadline. The worker announces an operation (bus) once it has committed
    /// either, so hearing it ends the wait; the database is looked at only on a slow poll,
    /// in case the word is lost.
    /// Answers the payment as the worker committed it when the word carried it (None when
    /// the wait ended otherwise: the caller reads it).
    pub async fn push_and_wait(
        &self,
        job: &entity::job::Model,
        operation_id: Uuid,
    ) -> Result<Option<entity::payment::Model>> {
        let deadline = tokio::time::Instant::now() + self.settings.charge_wait;
        let mut settled = self.bus.watch_operation(operation_id);
        self.push(job).await;
        // The word normally comes; looking is only the fallback, so not before a while
        // (looking after 20 ms read most operations still pending under load: a read per
        // charge for nothing).
        let pause = Duration::from_millis(250);
        loop {
            let until = (tokio::time::Instant::now() + pause).min(deadline);
            if until <= tokio::time::Instant::now() {
                return Ok(None);
            }
            tokio::select! {
                payment = settled.settled() => return Ok(payment),
                _ = tokio::time::sleep_until(until) => {}
            }
            let op = operation::Entity::find_by_id(operation_id)
                .one(&self.db)
                .await?
                .ok_or(ServiceError::NotFound)?;
            if op.status != "PENDING" || op.attempts > 0 {
                return Ok(None);
            }
        }
    }
}
