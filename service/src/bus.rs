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
    redis: Option<RedisBus>,
}

#[derive(Clone)]
struct RedisBus {
    client: redis::Client,
    conn: ConnectionManager,
    channel: String,
    listening: Arc<AtomicBool>,
}

impl Bus {
    pub fn local() -> Bus {
        Bus {
            local: broadcast::channel(4096).0,
            redis: None,
        }
    }

    pub fn redis(client: redis::Client, conn: ConnectionManager, prefix: &str) -> Bus {
        Bus {
            local: broadcast::channel(4096).0,
            redis: Some(RedisBus {
                client,
                conn,
                channel: format!("{prefix}:events"),
                listening: Arc::new(AtomicBool::new(false)),
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

    /// A receiver of every published event; with Redis, the first call starts the listener.
    pub fn subscribe(&self) -> broadcast::Receiver<Published> {
        let rx = self.local.subscribe();
        if let Some(r) = &self.redis
            && !r.listening.swap(true, Ordering::SeqCst)
        {
            tokio::spawn(listen(r.clone(), self.local.clone()));
        }
        rx
    }
}

/// Forwards Redis messages to local subscribers, reconnecting when Redis goes away.
async fn listen(r: RedisBus, local: broadcast::Sender<Published>) {
    loop {
        match r.client.get_async_pubsub().await {
            Ok(mut pubsub) => {
                if let Err(e) = pubsub.subscribe(&r.channel).await {
                    tracing::warn!(error = %e, "could not subscribe to the event channel");
                } else {
                    let mut messages = pubsub.on_message();
                    while let Some(msg) = messages.next().await {
                        let Ok(text) = msg.get_payload::<String>() else {
                            continue;
                        };
                        if let Ok(p) = serde_json::from_str::<Published>(&text) {
                            let _ = local.send(p);
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "event listener cannot reach Redis"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
