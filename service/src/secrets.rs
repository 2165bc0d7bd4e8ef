//! The master key, from which webhook signing secrets are derived: no secret is stored in
//! the database, and rotating one is a version number.
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use crate::error::{Result, ServiceError};
use crate::settings::Settings;

pub struct MasterKey(Vec<u8>);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(…)")
    }
}

fn decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    hex::decode(text)
        .ok()
        .or_else(|| STANDARD.decode(text).ok())
        .filter(|k| k.len() >= 32)
}

impl MasterKey {
    /// `PAYGATE_MASTER_KEY`, else the key file, made (mode 0600) if it does not exist yet.
    pub fn load(settings: &Settings) -> Result<MasterKey> {
        if let Some(text) = &settings.master_key {
            return decode(text).map(MasterKey).ok_or_else(|| {
                ServiceError::Config(
                    "PAYGATE_MASTER_KEY must be hex or base64 of at least 32 bytes".into(),
                )
            });
        }
        let path = Path::new(&settings.master_key_file);
        match std::fs::read_to_string(path) {
            Ok(text) => decode(&text).map(MasterKey).ok_or_else(|| {
                ServiceError::Config(format!(
                    "{} does not hold a valid master key",
                    path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = vec![0u8; 32];
                rand::rng().fill_bytes(&mut key);
                write_private(path, &hex::encode(&key))?;
                tracing::info!(path = %path.display(), "made a new master key file; keep it with the database");
                Ok(MasterKey(key))
            }
            Err(e) => Err(ServiceError::Config(format!(
                "cannot read {}: {e}",
                path.display()
            ))),
        }
    }

    /// A key for tests.
    pub fn from_bytes(bytes: &[u8]) -> MasterKey {
        MasterKey(bytes.to_vec())
    }

    /// HMAC-SHA256 of `label` under the master key.
    pub fn derive(&self, label: &str) -> Result<[u8; 32]> {
        hmac_sha256(&self.0, label.as_bytes())
    }
}

/// The secret the acquirer signs its notifications with: the setting, else derived from the
/// master key (so `paygate all` and its simulator agree without configuration).
pub fn acquirer_notification_secret(settings: &Settings, key: &MasterKey) -> Result<String> {
    match &settings.acquirer_notification_secret {
        Some(secret) => Ok(secret.clone()),
        None => Ok(hex::encode(key.derive("acquirer-notifications")?)),
    }
}

/// HMAC-SHA256 (it takes keys of any length, so the error arm is never reached).
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> Result<[u8; 32]> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .map_err(|e| ServiceError::Internal(format!("hmac: {e}")))?;
    mac.update(data);
    Ok(mac.finalize().into_bytes().into())
}

fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut file = opts
        .open(path)
        .map_err(|e| ServiceError::Config(format!("cannot create {}: {e}", path.display())))?;
    file.write_all(text.as_bytes())
        .map_err(|e| ServiceError::Config(format!("cannot write {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivation_is_stable_and_depends_on_the_label() {
        let k = MasterKey::from_bytes(&[7u8; 32]);
        assert_eq!(k.derive("a").unwrap(), k.derive("a").unwrap());
        assert_ne!(k.derive("a").unwrap(), k.derive("b").unwrap());
        assert!(decode("00").is_none(), "short keys are refused");
        assert_eq!(decode(&"ab".repeat(32)).map(|k| k.len()), Some(32));
    }
}
