//! Live events for GraphQL subscriptions: in-process in the embedded default, through Redis
//! pub/sub across processes in production, so a mutation answered by one `serve` process
//! reaches a subscriber of another.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use entity::event;
use futures::StreamExt;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
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

#[derive(Clone)]
pub struct Bus {
    local: broadcast::Sender<Published>,
    /// Operations the worker has just settled (answered, or found inconclusive), so that a
    /// mutation waiting for one answers at once instead of polling the database.
    ops: broadcast::Sender<Uuid>,
    redis: Option<RedisBus>,
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

impl Bus {
    pub fn local() -> Bus {
        Bus {
            local: broadcast::channel(4096).0,
            ops: broadcast::channel(4096).0,
            redis: None,
        }
    }

    pub fn redis(client: redis::Client, conn: ConnectionManager, prefix: &str) -> Bus {
        Bus {
            local: broadcast::channel(4096).0,
            ops: broadcast::channel(4096).0,
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

    pub async fn publish(&self, ev: &event::Model) {
        let p = Published {
            event_id: ev.id,
            merchant_id: ev.merchant_id,
            mode: ev.mode.clone(),
            event_type: ev.event_type.clone(),
            payment_id: ev.payment_id,
            sequence: ev.sequence,
        };
        match &self.redis {
            None => {
                let _ = self.local.send(p);
            }
            Some(r) => {
                let Ok(text) = serde_json::to_string(&p) else {
                    return;
                };
                let mut conn = r.conn.clone();
                let sent: redis::RedisResult<i64> = redis::cmd("PUBLISH")
                    .arg(&r.channel)
                    .arg(text)
                    .query_async(&mut conn)
                    .await;
                if let Err(e) = sent {
                    // Subscribers catch up from the event log by sequence; webhooks are unaffected.
                    tracing::warn!(error = %e, "could not publish an event to Redis");
                }
            }
        }
    }

    /// Says that an operation has settled. Best effort: a waiter that misses it still finds
    /// the result in the database on its next look.
    pub async fn operation_settled(&self, operation_id: Uuid) {
        match &self.redis {
            None => {
                let _ = self.ops.send(operation_id);
            }
            Some(r) => {
                let mut conn = r.conn.clone();
                let sent: redis::RedisResult<i64> = redis::cmd("PUBLISH")
                    .arg(&r.ops_channel)
                    .arg(operation_id.to_string())
                    .query_async(&mut conn)
                    .await;
                if let Err(e) = sent {
                    tracing::debug!(error = %e, "could not publish a settled operation");
                }
            }
        }
    }

    /// A receiver of settled operation ids; with Redis, the first call starts the listener.
    pub fn watch_operations(&self) -> broadcast::Receiver<Uuid> {
        let rx = self.ops.subscribe();
        if let Some(r) = &self.redis
            && !r.ops_listening.swap(true, Ordering::SeqCst)
        {
            let (client, channel, ops) =
                (r.client.clone(), r.ops_channel.clone(), self.ops.clone());
            tokio::spawn(forward(client, channel, move |text| {
                if let Ok(id) = text.parse::<Uuid>() {
                    let _ = ops.send(id);
                }
            }));
        }
        rx
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
async fn forward(client: redis::Client, channel: String, deliver: impl Fn(&str)) {
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
