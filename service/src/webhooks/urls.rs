//! Where webhooks may go: http(s) only, and never to loopback or private addresses unless
//! the deployment allows it (tests and local development).
use std::net::IpAddr;

use reqwest::Url;

use crate::error::{Result, ServiceError};

/// A public unicast address: not loopback, private, link-local, shared, documentation,
/// multicast or unspecified.
pub fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1])) // shared address space
                || (o[0] == 198 && (o[1] == 18 || o[1] == 19)))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_ip(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80) // link local
        }
    }
}

/// Checks a webhook URL as given; the addresses a name resolves to are checked again at
/// delivery time.
pub fn check_url(url: &str, allow_private: bool) -> Result<Url> {
    let bad = |m: &str| ServiceError::invalid("INVALID_URL", &["url"], m.to_string());
    let parsed = Url::parse(url.trim()).map_err(|_| bad("url must be an absolute http(s) URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad("url must use http or https"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad("url must not carry credentials"));
    }
    let host = parsed
        .host_str()
        .ok_or_else(|| bad("url must have a host"))?;
    if url.len() > 2048 {
        return Err(bad("url has at most 2048 characters"));
    }
    if !allow_private {
        let private = match host.trim_matches(['[', ']']).parse::<IpAddr>() {
            Ok(ip) => !is_public_ip(ip),
            Err(_) => {
                let h = host.to_ascii_lowercase();
                h == "localhost"
                    || h.ends_with(".localhost")
                    || h.ends_with(".local")
                    || h.ends_with(".internal")
            }
        };
        if private {
            return Err(ServiceError::invalid(
                "PRIVATE_ADDRESS",
                &["url"],
                "webhook URLs on loopback or private addresses are refused (PAYGATE_WEBHOOK_ALLOW_PRIVATE)",
            ));
        }
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_odd_urls_are_refused() {
        for url in [
            "http://127.0.0.1/x",
            "http://10.1.2.3/",
            "http://[::1]:80/",
            "http://localhost:9/",
            "http://192.168.0.1",
        ] {
            assert_eq!(
                check_url(url, false).unwrap_err().code(),
                "PRIVATE_ADDRESS",
                "{url}"
            );
            assert!(
                check_url(url, true).is_ok(),
                "{url} allowed when private addresses are"
            );
        }
        for url in [
            "ftp://example.com/",
            "not a url",
            "http://user:pw@example.com/",
        ] {
            assert_eq!(
                check_url(url, true).unwrap_err().code(),
                "INVALID_URL",
                "{url}"
            );
        }
        assert!(check_url("https://hooks.example.com/paygate", false).is_ok());
    }
}
