//! Notifications from the acquirer (`POST /acquirer/notifications`): chargebacks. Each is
//! signed with the shared secret — header `Simulator-Signature: t=<unix>,v1=<hex
//! HMAC-SHA256 of "t.body">` — and refused unless the signature is right and the timestamp
//! within five minutes, so nobody else can move a payment this way.
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use crate::error::{Result, ServiceError};
use crate::gateway::Gateway;
use crate::payments::{self, ChargebackNotice};
use crate::secrets::acquirer_notification_secret;

pub const SIGNATURE_HEADER: &str = "simulator-signature";

/// How far a notification's timestamp may be from now (replays of old ones are refused).
const TOLERANCE_SECS: i64 = 300;

#[derive(Deserialize)]
struct Notification {
    #[serde(rename = "type")]
    kind: String,
    payment_id: String,
    amount: i64,
    currency: String,
    #[serde(default)]
    reason: Option<String>,
}

/// What became of a notification.
#[derive(Debug, PartialEq, Eq)]
pub enum Received {
    /// It moved (or had already moved) this payment.
    Applied(uuid::Uuid),
    /// A kind of notification Paygate does not act on.
    Ignored,
}

/// Checks `t=…,v1=…` against the body: the secret, and a timestamp close to now.
fn verify(secret: &str, header: Option<&str>, body: &[u8], now: i64) -> Result<()> {
    let header = header.ok_or(ServiceError::Unauthenticated)?;
    let (mut t, mut v1) = (None, None);
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => t = value.parse::<i64>().ok(),
            Some(("v1", value)) => v1 = hex::decode(value).ok(),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return Err(ServiceError::Unauthenticated);
    };
    if (now - t).abs() > TOLERANCE_SECS {
        return Err(ServiceError::Unauthenticated);
    }
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .map_err(|e| ServiceError::Internal(format!("hmac: {e}")))?;
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    // Constant-time comparison.
    mac.verify_slice(&v1)
        .map_err(|_| ServiceError::Unauthenticated)
}

/// Verifies a notification and applies it.
pub async fn receive(gw: &Gateway, signature: Option<&str>, body: &[u8]) -> Result<Received> {
    let secret = acquirer_notification_secret(&gw.settings, &gw.master_key)?;
    verify(&secret, signature, body, chrono::Utc::now().timestamp())?;
    let note: Notification = serde_json::from_slice(body).map_err(|e| {
        ServiceError::invalid(
            "INVALID_NOTIFICATION",
            &[],
            format!("not a notification: {e}"),
        )
    })?;
    match note.kind.as_str() {
        "payment.chargeback" => {
            let p = payments::chargeback(
                gw,
                &ChargebackNotice {
                    acquirer_reference: note.payment_id,
                    amount: note.amount,
                    currency: note.currency,
                    reason: note.reason.unwrap_or_else(|| "no reason given".into()),
                },
            )
            .await?;
            Ok(Received::Applied(p.id))
        }
        _ => Ok(Received::Ignored),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(secret: &str, t: i64, body: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{t}.{body}").as_bytes());
        format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn only_a_fresh_signature_of_this_body_with_this_secret_passes() {
        let now = 1_800_000_000;
        let good = header("s3cret", now, "{\"a\":1}");
        assert!(verify("s3cret", Some(&good), b"{\"a\":1}", now).is_ok());
        assert!(verify("s3cret", Some(&good), b"{\"a\":2}", now).is_err());
        assert!(verify("other", Some(&good), b"{\"a\":1}", now).is_err());
        assert!(verify("s3cret", Some(&good), b"{\"a\":1}", now + 301).is_err());
        assert!(verify("s3cret", None, b"{\"a\":1}", now).is_err());
        assert!(verify("s3cret", Some("t=1,v1=zz"), b"{}", 1).is_err());
        assert!(verify("s3cret", Some("garbage"), b"{}", now).is_err());
    }
}
