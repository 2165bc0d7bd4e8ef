//! Standard Webhooks signatures: `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`,
//! keyed with the base64-decoded part of the `whsec_` secret.
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;
use entity::webhook_endpoint;

use super::endpoints::secret;
use crate::error::{Result, ServiceError};
use crate::secrets::{MasterKey, hmac_sha256};

pub fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> Result<String> {
    let key = secret.strip_prefix("whsec_").unwrap_or(secret);
    let key = STANDARD
        .decode(key)
        .map_err(|e| ServiceError::Internal(format!("bad webhook secret: {e}")))?;
    let mac = hmac_sha256(&key, format!("{id}.{timestamp}.{body}").as_bytes())?;
    Ok(format!("v1,{}", STANDARD.encode(mac)))
}

/// The `webhook-signature` header: the current secret's signature, and during the 24 h
/// after a rotation the previous secret's too, separated by a space.
pub fn signature_header(
    key: &MasterKey,
    endpoint: &webhook_endpoint::Model,
    id: &str,
    timestamp: i64,
    body: &str,
) -> Result<String> {
    let mut header = sign(
        &secret(key, endpoint.id, endpoint.secret_version)?,
        id,
        timestamp,
        body,
    )?;
    if endpoint
        .previous_secret_until
        .is_some_and(|until| until > Utc::now())
        && endpoint.secret_version > 1
    {
        let previous = secret(key, endpoint.id, endpoint.secret_version - 1)?;
        header.push(' ');
        header.push_str(&sign(&previous, id, timestamp, body)?);
    }
    Ok(header)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example from the Standard Webhooks specification.
    #[test]
    fn signs_like_the_standard_webhooks_reference() {
        let sig = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }
}
