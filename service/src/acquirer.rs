//! The card acquirer, reached over HTTP. One trait, one implementation per acquirer; the
//! built-in simulator speaks [`HttpAcquirer`]'s protocol. Every money call carries the
//! operation's id as the acquirer's idempotency key, so a call sent twice has one effect.
use std::time::Duration;

use async_trait::async_trait;
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// One money call to the acquirer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AcquirerRequest {
    /// Authorize, and capture at once when `capture` is true.
    Payment {
        token: String,
        amount: i64,
        currency: String,
        capture: bool,
        /// The 3-D Secure authentication, for cards that need one.
        authentication: Option<String>,
    },
    Capture {
        reference: String,
        amount: i64,
    },
    Release {
        reference: String,
        amount: i64,
    },
    Refund {
        reference: String,
        amount: i64,
    },
}

/// The acquirer's view of a payment after an approved call.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub struct AcquirerPayment {
    pub id: String,
    pub status: String,
    pub authorized_amount: i64,
    pub captured_amount: i64,
    pub released_amount: i64,
    pub refunded_amount: i64,
}

/// A definite answer: the call took effect, or it never will.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AcquirerAnswer {
    Approved(AcquirerPayment),
    Declined {
        code: String,
        message: String,
        reference: Option<String>,
    },
}

/// No definite answer: the call may or may not have taken effect. Ask again later with the
/// same idempotency key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Inconclusive {
    #[error("the acquirer is still processing the call")]
    Processing,
    #[error("the acquirer did not answer: {0}")]
    Unavailable(String),
}

/// What the acquirer knows of an idempotency key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    Done(AcquirerAnswer),
    Processing,
    Unknown,
}

/// A tokenized card: all the gateway ever keeps of it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct CardToken {
    pub token: String,
    pub brand: String,
    pub last4: String,
    pub exp_month: i32,
    pub exp_year: i32,
    /// "required" when the card must pass 3-D Secure before it is charged.
    #[serde(default)]
    pub three_d_secure: Option<String>,
}

impl CardToken {
    pub fn needs_3ds(&self) -> bool {
        self.three_d_secure.as_deref() == Some("required")
    }
}

/// A 3-D Secure authentication at the acquirer.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Authentication {
    pub id: String,
    /// pending, authenticated or failed.
    pub status: String,
    pub token: String,
    pub amount: i64,
    pub challenge_url: String,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenizeError {
    #[error("{message}")]
    Rejected { code: String, message: String },
    #[error("the acquirer did not answer: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait Acquirer: Send + Sync {
    async fn execute(
        &self,
        key: &str,
        req: &AcquirerRequest,
    ) -> Result<AcquirerAnswer, Inconclusive>;
    async fn lookup(&self, key: &str) -> Result<Lookup, Inconclusive>;
    async fn tokenize(
        &self,
        number: &str,
        exp_month: i32,
        exp_year: i32,
    ) -> Result<CardToken, TokenizeError>;
    /// Starts a 3-D Secure challenge; the buyer comes back to `return_url`.
    async fn start_authentication(
        &self,
        token: &str,
        amount: i64,
        currency: &str,
        return_url: &str,
    ) -> Result<Authentication, TokenizeError>;
    async fn authentication(&self, id: &str) -> Result<Authentication, TokenizeError>;
}

/// The simulator's HTTP protocol.
pub struct HttpAcquirer {
    base: String,
    client: reqwest::Client,
}

impl HttpAcquirer {
    pub fn new(base: &str, timeout: Duration) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .pool_max_idle_per_host(256)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(HttpAcquirer {
            base: base.trim_end_matches('/').to_string(),
            client,
        })
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
    id: Option<String>,
}

#[derive(Deserialize)]
struct ErrorDetail {
    code: String,
    #[serde(default)]
    message: String,
}

/// Turns an acquirer answer (status code and body) into a definite answer, or says it is none.
fn interpret(status: u16, body: &Value) -> Result<AcquirerAnswer, Inconclusive> {
    if status >= 500 {
        return Err(Inconclusive::Unavailable(format!("HTTP {status}")));
    }
    if (200..300).contains(&status) {
        // A refund answers {refund_id, payment}; the others the payment itself.
        let payment = body.get("payment").unwrap_or(body);
        return serde_json::from_value(payment.clone())
            .map(AcquirerAnswer::Approved)
            .map_err(|e| Inconclusive::Unavailable(format!("unreadable answer: {e}")));
    }
    let err: ErrorBody = serde_json::from_value(body.clone())
        .map_err(|e| Inconclusive::Unavailable(format!("unreadable error (HTTP {status}): {e}")))?;
    if status == 409 && err.error.code == "processing" {
        return Err(Inconclusive::Processing);
    }
    Ok(AcquirerAnswer::Declined {
        code: err.error.code,
        message: err.error.message,
        reference: err.id,
    })
}

fn unavailable(e: reqwest::Error) -> Inconclusive {
    // The error's text names the URL only, never a body.
    Inconclusive::Unavailable(if e.is_timeout() {
        "timed out".into()
    } else {
        e.to_string()
    })
}

#[async_trait]
impl Acquirer for HttpAcquirer {
    async fn execute(
        &self,
        key: &str,
        req: &AcquirerRequest,
    ) -> Result<AcquirerAnswer, Inconclusive> {
        let (path, body) = match req {
            AcquirerRequest::Payment {
                token,
                amount,
                currency,
                capture,
                authentication,
            } => (
                "/v1/payments".to_string(),
                json!({"token": token, "amount": amount, "currency": currency, "capture": capture,
                       "authentication": authentication}),
            ),
            AcquirerRequest::Capture { reference, amount } => (
                format!("/v1/payments/{reference}/capture"),
                json!({ "amount": amount }),
            ),
            AcquirerRequest::Release { reference, amount } => (
                format!("/v1/payments/{reference}/release"),
                json!({ "amount": amount }),
            ),
            AcquirerRequest::Refund { reference, amount } => (
                format!("/v1/payments/{reference}/refund"),
                json!({ "amount": amount }),
            ),
        };
        let res = self
            .client
            .post(format!("{}{path}", self.base))
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
            .await
            .map_err(unavailable)?;
        let status = res.status().as_u16();
        let body: Value = res.json().await.map_err(unavailable)?;
        interpret(status, &body)
    }

    async fn lookup(&self, key: &str) -> Result<Lookup, Inconclusive> {
        let res = self
            .client
            .get(format!("{}/v1/operations/{key}", self.base))
            .send()
            .await
            .map_err(unavailable)?;
        if res.status() == StatusCode::NOT_FOUND {
            return Ok(Lookup::Unknown);
        }
        if !res.status().is_success() {
            return Err(Inconclusive::Unavailable(format!(
                "HTTP {}",
                res.status().as_u16()
            )));
        }
        let body: Value = res.json().await.map_err(unavailable)?;
        match body.get("state").and_then(Value::as_str) {
            Some("processing") => Ok(Lookup::Processing),
            Some("done") => {
                let status = body
                    .get("status_code")
                    .and_then(Value::as_u64)
                    .unwrap_or(500);
                let stored = body.get("body").cloned().unwrap_or(Value::Null);
                match interpret(u16::try_from(status).unwrap_or(500), &stored) {
                    Ok(answer) => Ok(Lookup::Done(answer)),
                    // A stored 5xx means the call never took effect: send it again.
                    Err(Inconclusive::Unavailable(_)) => Ok(Lookup::Unknown),
                    Err(Inconclusive::Processing) => Ok(Lookup::Processing),
                }
            }
            _ => Err(Inconclusive::Unavailable("unreadable lookup answer".into())),
        }
    }

    async fn tokenize(
        &self,
        number: &str,
        exp_month: i32,
        exp_year: i32,
    ) -> Result<CardToken, TokenizeError> {
        let res = self
            .client
            .post(format!("{}/v1/tokens", self.base))
            .json(&json!({"number": number, "exp_month": exp_month, "exp_year": exp_year}))
            .send()
            .await;
        read_answer(res).await
    }

    async fn start_authentication(
        &self,
        token: &str,
        amount: i64,
        currency: &str,
        return_url: &str,
    ) -> Result<Authentication, TokenizeError> {
        let body = json!({"token": token, "amount": amount, "currency": currency, "return_url": return_url});
        let res = self
            .client
            .post(format!("{}/v1/authentications", self.base))
            .json(&body)
            .send()
            .await;
        read_answer(res).await
    }

    async fn authentication(&self, id: &str) -> Result<Authentication, TokenizeError> {
        let res = self
            .client
            .get(format!("{}/v1/authentications/{id}", self.base))
            .send()
            .await;
        read_answer(res).await
    }
}

/// Reads a non-money answer (a token, an authentication): the object, the acquirer's refusal,
/// or "unavailable" for a network error or a 5xx.
async fn read_answer<T: serde::de::DeserializeOwned>(
    res: reqwest::Result<reqwest::Response>,
) -> Result<T, TokenizeError> {
    let unreachable = |e: reqwest::Error| TokenizeError::Unavailable(unavailable(e).to_string());
    let res = res.map_err(unreachable)?;
    let status = res.status();
    let body: Value = res.json().await.map_err(unreachable)?;
    if status.is_success() {
        return serde_json::from_value(body)
            .map_err(|e| TokenizeError::Unavailable(format!("unreadable answer: {e}")));
    }
    if status.is_server_error() {
        return Err(TokenizeError::Unavailable(format!(
            "HTTP {}",
            status.as_u16()
        )));
    }
    let err: ErrorBody = serde_json::from_value(body)
        .map_err(|e| TokenizeError::Unavailable(format!("unreadable error: {e}")))?;
    Err(TokenizeError::Rejected {
        code: err.error.code,
        message: err.error.message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_as_definite_or_not() {
        let pay = json!({"id":"pay_1","status":"captured","authorized_amount":10,"captured_amount":10,"released_amount":0,"refunded_amount":0});
        assert!(
            matches!(interpret(200, &pay), Ok(AcquirerAnswer::Approved(p)) if p.captured_amount == 10)
        );
        let refund = json!({"refund_id":"re_1","payment":pay});
        assert!(matches!(
            interpret(200, &refund),
            Ok(AcquirerAnswer::Approved(_))
        ));
        let declined = json!({"error":{"code":"card_declined","message":"no"},"id":"pay_2"});
        assert!(
            matches!(interpret(402, &declined), Ok(AcquirerAnswer::Declined{code, ..}) if code == "card_declined")
        );
        let processing = json!({"error":{"code":"processing","message":""}});
        assert_eq!(interpret(409, &processing), Err(Inconclusive::Processing));
        assert!(matches!(
            interpret(503, &json!({})),
            Err(Inconclusive::Unavailable(_))
        ));
    }
}
