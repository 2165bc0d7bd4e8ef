//! Notifications to the gateway: the chargeback of a payment made with the chargeback test
//! card, some time after its capture. Each is signed like Stripe's: the header
//! `Simulator-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">` under the shared
//! secret, and retried with backoff until the gateway answers 2xx.
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use crate::state::Shared;

pub const SIGNATURE_HEADER: &str = "simulator-signature";

/// Tries before a notification is given up (the first after 0.5 s, doubling).
const TRIES: u32 = 8;

/// The signature header's value for `body` sent at `timestamp`.
pub fn sign(secret: &str, timestamp: i64, body: &str) -> String {
    // HMAC takes keys of any length: new_from_slice cannot fail.
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(format!("{timestamp}.{body}").as_bytes());
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// After the configured delay, charges the payment back and notifies the gateway.
pub fn schedule_chargeback(shared: Arc<Shared>, payment_id: String) {
    tokio::spawn(async move {
        tokio::time::sleep(shared.config.chargeback_delay).await;
        let Some((amount, currency)) = shared.store.lock().await.charge_back(&payment_id) else {
            return;
        };
        let Some(notify) = shared.config.notify.clone() else {
            tracing::warn!(%payment_id, "chargeback not notified: no notification URL and secret set");
            return;
        };
        let body = json!({
            "id": format!("evt_{}", uuid::Uuid::new_v4().simple()),
            "type": "payment.chargeback",
            "payment_id": payment_id,
            "amount": amount,
            "currency": currency,
            "reason": "fraudulent",
        })
        .to_string();
        let client = reqwest::Client::new();
        let mut pause = Duration::from_millis(500);
        for attempt in 1..=TRIES {
            let signature = sign(&notify.secret, chrono::Utc::now().timestamp(), &body);
            let sent = client
                .post(&notify.url)
                .header(SIGNATURE_HEADER, signature)
                .header("content-type", "application/json")
                .timeout(Duration::from_secs(10))
                .body(body.clone())
                .send()
                .await;
            match sent {
                Ok(res) if res.status().is_success() => {
                    tracing::info!(%payment_id, attempt, "chargeback notified");
                    return;
                }
                Ok(res) => {
                    tracing::warn!(%payment_id, attempt, status = %res.status(), "chargeback notification refused")
                }
                Err(e) => {
                    tracing::warn!(%payment_id, attempt, error = %e, "chargeback notification failed")
                }
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(60));
        }
        tracing::error!(%payment_id, "chargeback notification given up");
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_cover_the_timestamp_and_the_body() {
        let a = sign("secret", 1_700_000_000, "{}");
        assert!(a.starts_with("t=1700000000,v1="));
        assert_eq!(a.len(), "t=1700000000,v1=".len() + 64);
        assert_ne!(a, sign("secret", 1_700_000_001, "{}"));
        assert_ne!(a, sign("secret", 1_700_000_000, "{ }"));
        assert_ne!(a, sign("other", 1_700_000_000, "{}"));
    }
}
