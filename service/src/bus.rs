//! Live events for GraphQL subscriptions: in-process in the embedded default, through Redis
//! pub/sub across processes in production, so a mutation answered by one `serve` process
//! reaches a subscriber of another.
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use entity::{event, payment};
use futures::StreamExt;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, oneshot};
use uuid::Uuid;

/// What travels on the bus: enough to filter; subscribers read the event itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Published {
    pub event_id: Uuid,
    pub merchant_id: Uuid,
    pub mode: String,
    pub event_type: String,
    pub payment_id: Option<Uuid>,
    pub sequence: i64,
}

impl From<&event::Model> for Published {
    fn from(ev: &event::Model) -> Self {
        Published {
            event_id: ev.id,
            merchant_id: ev.merchant_id,
            mode: ev.mode.clone(),
            event_type: ev.event_type.clone(),
            payment_id: ev.payment_id,
            sequence: ev.sequence,
        }
    }
}

#[derive(Clone)]
pub struct Bus {
    local: broadcast::Sender<Published>,
    /// Mutations waiting for an operation the worker settles (answers, or finds
    /// inconclusive), so that they answer at once instead of polling the database. Only
    /// the waiters of an operation are woken by its word (a broadcast woke every waiter for
    /// every operation: 64 wake-ups per charge in the benchmark).
    ops: Waiters,
    redis: Option<RedisBus>,
}

/// The word that an operation has settled, with its payment as committed (so the waiting
/// mutation can answer without reading it back).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Settled {
    operation_id: Uuid,
    #[serde(default)]
    payment: Option<payment::Model>,
}

type Waiting = HashMap<Uuid, Vec<oneshot::Sender<Option<payment::Model>>>>;

#[derive(Clone, Default)]
struct Waiters(Arc<Mutex<Waiting>>);

impl Waiters {
    fn wake(&self, settled: Settled) {
        let woken = self
            .0
            .lock()
            .map(|mut map| map.remove(&settled.operation_id))
            .unwrap_or_default();
        for tx in woken.into_iter().flatten() {
            let _ = tx.send(settled.payment.clone());
        }
    }
}

/// A registration for one operation's word; dropping it unregisters.
pub struct OperationWatch {
    id: Uuid,
    rx: Option<oneshot::Receiver<Option<payment::Model>>>,
    waiters: Waiters,
}

impl OperationWatch {
    /// Resolves when the operation's word comes, with the payment if the word carried it
    /// (at most once; then it stays pending).
    pub async fn settled(&mut self) -> Option<payment::Model> {
        let Some(rx) = self.rx.as_mut() else {
            return futures::future::pending().await;
        };
        match rx.await {
            Ok(payment) => {
                self.rx = None;
                payment
            }
            // Cannot happen while registered; never resolve twice either way.
            Err(_) => futures::future::pending().await,
        }
    }
}

impl Drop for OperationWatch {
    fn drop(&mut self) {
        self.rx = None;
        if let Ok(mut map) = self.waiters.0.lock()
            && let Some(list) = map.get_mut(&self.id)
        {
            list.retain(|tx| !tx.is_closed());
            if list.is_empty() {
                map.remove(&self.id);
            }
        }
    }
}

#[derive(Clone)]
struct RedisBus {
    client: redis::Client,
    conn: ConnectionManager,
    channel: String,
    listening: Arc<AtomicBool>,
    ops_channel: String,
    ops_listening: Arc<AtomicBool>,
}

impl RedisBus {
    /// Publishes `message` as JSON on `channel`.
    async fn publish(&self, channel: &str, message: &impl Serialize) -> Result<(), String> {
        self.publish_many(channel, std::slice::from_ref(message))
            .await
    }

    /// Publishes each message as JSON on `channel`, all in one pipeline, in order.
    async fn publish_many(&self, channel: &str, messages: &[impl Serialize]) -> Result<(), String> {
        if messages.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for message in messages {
            let text = serde_json::to_string(message).map_err(|e| e.to_string())?;
            pipe.cmd("PUBLISH").arg(channel).arg(text).ignore();
        }
        let mut conn = self.conn.clone();
        pipe.query_async::<()>(&mut conn)
            .await
            .map_err(|e| e.to_string())
    }
}

impl Bus {
    pub fn local() -> Bus {
        Bus {
            local: broadcast::channel(4096).0,
            ops: Waiters::default(),
            redis: None,
        }
    }

    pub fn redis(client: redis::Client, conn: ConnectionManager, prefix: &str) -> Bus {
        Bus {
            local: broadcast::channel(4096).0,
            ops: Waiters::default(),
            redis: Some(RedisBus {
                client,
                conn,
                channel: format!("{prefix}:events"),
                listening: Arc::new(AtomicBool::new(false)),
                ops_channel: format!("{prefix}:operations"),
                ops_listening: Arc::new(AtomicBool::new(false)),
            }),
        }
    }

    /// Publishes events in their order. On Redis they go as one pipeline: the dispatcher
    /// publishes a tick's worth (hundreds under load), and one round trip each was about a
    /// tenth of the worker's system calls.
    pub async fn publish_all(&self, evs: &[Published]) {
        match &self.redis {
            None => {
                for p in evs {
                    let _ = self.local.send(p.clone());
                }
            }
            Some(r) => {
                if let Err(e) = r.publish_many(&r.channel, evs).await {
                    // Subscribers catch up from the event log by sequence; webhooks are unaffected.
                    tracing::warn!(error = %e, events = evs.len(), "could not publish events to Redis");
                }
            }
        }
    }

    /// Says that an operation has settled, with its payment as committed. Best effort: a
    /// waiter that misses it still finds the result in the database on its next look.
    pub async fn operation_settled(&self, operation_id: Uuid, payment: Option<&payment::Model>) {
        let settled = Settled {
            operation_id,
            payment: payment.cloned(),
        };
        match &self.redis {
            None => self.ops.wake(settled),
            Some(r) => {
                if let Err(e) = r.publish(&r.ops_channel, &settled).await {
                    tracing::debug!(error = %e, "could not publish a settled operation");
                }
            }
        }
    }

    /// Registers for the word that an operation has settled; register before the job
    /// is pushed, so the word cannot come first. With Redis, the first call starts the
    /// listener.
    pub fn watch_operation(&self, operation_id: Uuid) -> OperationWatch {
        let (tx, rx) = oneshot::channel();
        if let Ok(mut map) = self.ops.0.lock() {
            map.entry(operation_id).or_default().push(tx);
        }
        if let Some(r) = &self.redis
            && !r.ops_listening.swap(true, Ordering::SeqCst)
        {
            let (client, channel, ops) =
                (r.client.clone(), r.ops_channel.clone(), self.ops.clone());
            tokio::spawn(forward(client, channel, move |text| {
                if let Ok(settled) = serde_json::from_str::<Settled>(text) {
                    ops.wake(settled);
                } else if let Ok(operation_id) = text.parse::<Uuid>() {
                    // The bare id an older worker sends.
                    ops.wake(Settled {
                        operation_id,
                        payment: None,
                    });
                }
            }));
        }
        OperationWatch {
            id: operation_id,
            rx: Some(rx),
            waiters: self.ops.clone(),
        }
    }

    /// A receiver of every published event; with Redis, the first call starts the listener.
    pub fn subscribe(&self) -> broadcast::Receiver<Published> {
        let rx = self.local.subscribe();
        if let Some(r) = &self.redis
            && !r.listening.swap(true, Ordering::SeqCst)
        {
            let local = self.local.clone();
            tokio::spawn(forward(r.client.clone(), r.channel.clone(), move |text| {
                if let Ok(p) = serde_json::from_str::<Published>(text) {
                    let _ = local.send(p);
                }
            }));
        }
        rx
    }
}

/// Hands each message of a Redis channel to `deliver`, reconnecting when Redis goes away.
pub(crate) async fn forward(client: redis::Client, channel: String, deliver: impl Fn(&str)) {
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => {
                if let Err(e) = pubsub.subscribe(&channel).await {
                    tracing::warn!(error = %e, %channel, "could not subscribe to a Redis channel");
                } else {
                    let mut messages = pubsub.on_message();
                    while let Some(msg) = messages.next().await {
                        if let Ok(text) = msg.get_payload::<String>() {
                            deliver(&text);
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, %channel, "bus listener cannot reach Redis"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_watch_hears_its_own_operation_only_and_unregisters_when_dropped() {
        let bus = Bus::local();
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let mut watch_a = bus.watch_operation(a);
        let mut watch_b = bus.watch_operation(b);
        bus.operation_settled(b, None).await;
        let quiet = tokio::time::timeout(Duration::from_millis(50), watch_a.settled()).await;
        assert!(quiet.is_err(), "the word of b woke the watch of a");
        tokio::time::timeout(Duration::from_secs(1), watch_b.settled())
            .await
            .expect("b's watch heard b");
        bus.operation_settled(a, None).await;
        tokio::time::timeout(Duration::from_secs(1), watch_a.settled())
            .await
            .expect("a's watch heard a");
        // A watch that times out unregisters: nothing is left behind.
        drop(bus.watch_operation(Uuid::now_v7()));
        drop((watch_a, watch_b));
        assert!(bus.ops.0.lock().unwrap().is_empty());
    }
}
