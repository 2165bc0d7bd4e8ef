//! Live subscriptions (graphql-transport-ws at /graphql/ws): a payment's updates and the
//! merchant's events, only ever the API key's merchant and mode.
use std::collections::VecDeque;

use async_graphql::{Context, ID, Subscription};
use entity::event;
use futures::Stream;
use service::bus::Published;
use service::{Caller, Gateway, ServiceError, events, payments};
use tokio::sync::broadcast::{Receiver, error::RecvError};
use uuid::Uuid;

use super::context::{caller, gateway, parse_id};
use super::errors::graphql_error;
use super::events::Event;
use super::payments::Payment;

#[derive(Default)]
pub struct Subscription;

struct PaymentFeed {
    gw: Gateway,
    payment_id: Uuid,
    last: i64,
    buffer: VecDeque<event::Model>,
    rx: Receiver<Published>,
}

impl PaymentFeed {
    /// The next update in sequence order; a gap (an event not seen live) is filled from the log.
    async fn next(mut self) -> Option<(Payment, PaymentFeed)> {
        loop {
            if let Some(ev) = self.buffer.pop_front() {
                self.last = ev.sequence;
                match events::payment_from_snapshot(&ev.data) {
                    Some(p) => return Some((Payment::from(p), self)),
                    None => continue,
                }
            }
            let caught_up = match self.rx.recv().await {
                Ok(p) if p.payment_id == Some(self.payment_id) && p.sequence > self.last => false,
                Ok(_) => continue,
                Err(RecvError::Lagged(_)) => false,
                Err(RecvError::Closed) => return None,
            };
            if !caught_up {
                match events::payment_events_after(&self.gw, self.payment_id, self.last).await {
                    Ok(rows) => self.buffer.extend(rows),
                    Err(e) => {
                        tracing::warn!(error = %e, "subscription could not read the event log");
                        return None;
                    }
                }
            }
        }
    }
}

fn same_scope(caller: &Caller, p: &Published) -> bool {
    p.merchant_id == caller.merchant_id && p.mode == caller.mode.as_str()
}

#[Subscription]
impl Subscription {
    /// The payment after each of its events, in order: first those recorded after
    /// `afterSequence` (default 0: its whole history), then each new one as it happens.
    async fn payment_updated(
        &self,
        ctx: &Context<'_>,
        id: ID,
        after_sequence: Option<i64>,
    ) -> async_graphql::Result<impl Stream<Item = Payment> + use<>> {
        let caller = caller(ctx)?;
        let gw = gateway(ctx)?.clone();
        let payment_id = parse_id(&id, "id").map_err(|_| graphql_error(&ServiceError::NotFound))?;
        payments::get(&gw, &caller, payment_id)
            .await
            .map_err(|e| graphql_error(&e))?;
        // Subscribe before reading the log, so nothing falls between the two.
        let rx = gw.bus.subscribe();
        let last = after_sequence.unwrap_or(0);
        let buffer = events::payment_events_after(&gw, payment_id, last)
            .await
            .map_err(|e| graphql_error(&e))?;
        let feed = PaymentFeed {
            gw,
            payment_id,
            last,
            buffer: buffer.into(),
            rx,
        };
        Ok(futures::stream::unfold(feed, PaymentFeed::next))
    }

    /// The merchant's events as they happen, optionally only some types.
    async fn events(
        &self,
        ctx: &Context<'_>,
        types: Option<Vec<String>>,
    ) -> async_graphql::Result<impl Stream<Item = Event> + use<>> {
        let caller = caller(ctx)?;
        let gw = gateway(ctx)?.clone();
        let rx = gw.bus.subscribe();
        Ok(futures::stream::unfold(
            (gw, rx, caller, types),
            |(gw, mut rx, caller, types)| async move {
                loop {
                    let p = match rx.recv().await {
                        Ok(p) => p,
                        Err(RecvError::Lagged(n)) => {
                            tracing::warn!(missed = n, "events subscriber lagged");
                            continue;
                        }
                        Err(RecvError::Closed) => return None,
                    };
                    if !same_scope(&caller, &p)
                        || types.as_ref().is_some_and(|t| !t.contains(&p.event_type))
                    {
                        continue;
                    }
                    if let Ok(ev) = events::get(&gw.db, &caller, p.event_id).await {
                        return Some((Event(ev), (gw, rx, caller, types)));
                    }
                }
            },
        ))
    }
}
