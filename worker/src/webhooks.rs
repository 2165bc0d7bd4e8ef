//! Sending one webhook attempt, signed with the Standard Webhooks scheme.
use std::time::{Duration, Instant};

use chrono::Utc;
use entity::job;
use service::webhooks::{self, AttemptOutcome};
use service::{Gateway, events};
use uuid::Uuid;

const EXCERPT: usize = 1024;

/// Fans an event out to deliveries and hands their jobs to the queue at once.
pub async fn fan_out(gw: &Gateway, row: &job::Model, event_id: Uuid) -> service::Result<()> {
    gw.push_all(&webhooks::fan_out(gw, row, event_id).await?)
        .await;
    Ok(())
}

pub async fn deliver(gw: &Gateway, row: &job::Model, delivery_id: Uuid) -> service::Result<()> {
    let Some((_, endpoint, ev)) = webhooks::delivery_to_send(gw, delivery_id).await? else {
        return service::jobs::finish(&gw.autocommit().await?, row.id).await;
    };
    if !endpoint.enabled || endpoint.deleted_at.is_some() {
        return webhooks::abandon(gw, row, delivery_id, "the endpoint is disabled or deleted")
            .await;
    }
    let body = events::webhook_body(&ev).to_string();
    let id = ev.id.to_string();
    let timestamp = Utc::now().timestamp();
    let signature = webhooks::signature_header(&gw.master_key, &endpoint, &id, timestamp, &body)?;
    let started = Instant::now();
    let outcome = match refused_address(gw, &endpoint.url).await {
        Some(error) => AttemptOutcome {
            status_code: None,
            duration: started.elapsed(),
            response_excerpt: None,
            error: Some(error),
            retry_after: None,
        },
        None => {
            let sent = gw
                .http
                .post(&endpoint.url)
                .header("content-type", "application/json")
                .header("webhook-id", &id)
                .header("webhook-timestamp", timestamp.to_string())
                .header("webhook-signature", signature)
                .body(body)
                .send()
                .await;
            match sent {
                Ok(res) => {
                    let status = res.status().as_u16();
                    let retry_after = res
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    let excerpt = excerpt(res).await;
                    AttemptOutcome {
                        status_code: Some(status),
                        duration: started.elapsed(),
                        response_excerpt: excerpt,
                        error: None,
                        retry_after,
                    }
                }
                Err(e) => AttemptOutcome {
                    status_code: None,
                    duration: started.elapsed(),
                    response_excerpt: None,
                    error: Some(if e.is_timeout() {
                        "timed out".into()
                    } else {
                        e.to_string()
                    }),
                    retry_after: None,
                },
            }
        }
    };
    webhooks::record_attempt(gw, row, delivery_id, &outcome).await
}

/// At most 1 KiB of the receiver's answer.
async fn excerpt(mut res: reqwest::Response) -> Option<String> {
    let mut bytes = Vec::new();
    while bytes.len() < EXCERPT {
        match res.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            _ => break,
        }
    }
    bytes.truncate(EXCERPT);
    (!bytes.is_empty()).then(|| String::from_utf8_lossy(&bytes).into_owned())
}

/// A name that resolves to a private address is refused at delivery time too, unless the
/// deployment allows private addresses.
async fn refused_address(gw: &Gateway, url: &str) -> Option<String> {
    if gw.settings.webhook_allow_private {
        return None;
    }
    let parsed = reqwest::Url::parse(url).ok()?;
    let host = parsed.host_str()?.trim_matches(['[', ']']).to_string();
    let port = parsed.port_or_known_default().unwrap_or(443);
    match tokio::net::lookup_host((host.as_str(), port)).await {
        Ok(addrs) => {
            let addrs: Vec<_> = addrs.collect();
            addrs
                .iter()
                .any(|a| !webhooks::is_public_ip(a.ip()))
                .then(|| format!("refused: {host} resolves to a private address"))
        }
        Err(e) => Some(format!("cannot resolve {host}: {e}")),
    }
}
