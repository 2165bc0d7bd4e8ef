//! In-memory state of the simulator: payments and idempotency records.

use std::collections::HashMap;

use axum::http::StatusCode;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::SimulatorConfig;
use crate::cards::{Behavior, Token};
use crate::payments::Payment;
use crate::response::ApiResponse;

/// Everything the handlers share.
pub struct Shared {
    pub config: SimulatorConfig,
    pub store: Mutex<Store>,
}

/// What identifies a request for idempotency: its route and its JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Fingerprint {
    pub route: String,
    pub body: Value,
}

#[derive(Debug, Clone)]
enum Outcome {
    Processing,
    Done(ApiResponse),
}

#[derive(Debug, Clone)]
struct Operation {
    fingerprint: Fingerprint,
    outcome: Outcome,
}

/// A money call, once its body is parsed.
#[derive(Debug, Clone)]
pub enum MoneyOp {
    Create {
        token: String,
        amount: i64,
        currency: String,
        capture: bool,
        /// The 3-D Secure authentication a `threeds` card needs.
        authentication: Option<String>,
    },
    Capture {
        id: String,
        amount: Option<i64>,
    },
    Release {
        id: String,
        amount: Option<i64>,
    },
    Refund {
        id: String,
        amount: Option<i64>,
    },
}

impl MoneyOp {
    /// The card behavior driving this call, when it is decided by a token.
    pub fn behavior(&self) -> Option<Behavior> {
        match self {
            MoneyOp::Create { token, .. } => Token::parse(token).map(|t| t.behavior),
            _ => None,
        }
    }
}

#[derive(Debug, Default)]
pub struct Store {
    payments: HashMap<String, Payment>,
    operations: HashMap<String, Operation>,
    flaky_attempts: HashMap<String, u32>,
    /// Money calls actually performed (replays excluded): tests use it to check that a
    /// job run twice had one effect.
    effects: u64,
    /// 3-D Secure authentications by id.
    pub authentications: HashMap<String, crate::three_ds::Authentication>,
    /// Tokens that passed 3-D Secure once: later merchant-initiated charges of a remembered
    /// card need no new challenge (the networks' exemption).
    authenticated_tokens: std::collections::HashSet<String>,
    /// Tokens of `declinelater` cards that have paid once.
    used_tokens: std::collections::HashSet<String>,
    /// Captured payments of the chargeback card whose chargeback is still to be notified.
    due_chargebacks: Vec<String>,
}

impl Store {
    /// The answer to give right away if `key` was seen already: the stored
    /// answer, or a 409 if the body differs or the call is still running.
    pub fn replay(&self, key: &str, fingerprint: &Fingerprint) -> Option<ApiResponse> {
        let op = self.operations.get(key)?;
        if op.fingerprint != *fingerprint {
            return Some(ApiResponse::error(
                StatusCode::CONFLICT,
                "idempotency_key_reused",
                "this idempotency key was already used with a different request",
            ));
        }
        Some(match &op.outcome {
            Outcome::Done(response) => response.clone(),
            Outcome::Processing => ApiResponse::error(
                StatusCode::CONFLICT,
                "processing",
                "a request with this idempotency key is still being processed",
            ),
        })
    }

    /// Counts a call of a flaky card; true when it must fail (first two calls).
    pub fn flaky_fails(&mut self, key: &str) -> bool {
        let attempts = self.flaky_attempts.entry(key.to_owned()).or_insert(0);
        *attempts += 1;
        if *attempts <= 2 {
            true
        } else {
            self.flaky_attempts.remove(key);
            false
        }
    }

    /// Records `key` as being processed.
    pub fn start(&mut self, key: &str, fingerprint: Fingerprint) {
        self.operations.insert(
            key.to_owned(),
            Operation {
                fingerprint,
                outcome: Outcome::Processing,
            },
        );
    }

    /// Stores the final answer of `key`.
    pub fn finish(&mut self, key: &str, fingerprint: Fingerprint, response: ApiResponse) {
        self.operations.insert(
            key.to_owned(),
            Operation {
                fingerprint,
                outcome: Outcome::Done(response),
            },
        );
    }

    /// The `GET /v1/operations/{key}` answer.
    pub fn operation(&self, key: &str) -> ApiResponse {
        match self.operations.get(key).map(|op| &op.outcome) {
            None => ApiResponse::not_found("no request was seen with this idempotency key"),
            Some(Outcome::Processing) => ApiResponse::ok(json!({ "state": "processing" })),
            Some(Outcome::Done(response)) => ApiResponse::ok(json!({
                "state": "done",
                "status_code": response.status.as_u16(),
                "body": response.body,
            })),
        }
    }

    /// The `GET /v1/stats` answer.
    pub fn stats(&self) -> serde_json::Value {
        json!({ "effects": self.effects, "payments": self.payments.len() })
    }

    pub fn payment(&self, id: &str) -> Option<&Payment> {
        self.payments.get(id)
    }

    /// The payments whose chargebacks are now to be scheduled.
    pub fn take_chargebacks(&mut self) -> Vec<String> {
        std::mem::take(&mut self.due_chargebacks)
    }

    /// The card holder's bank takes back what is captured and not refunded; the amount
    /// and currency, or None if nothing is left to take.
    pub fn charge_back(&mut self, id: &str) -> Option<(i64, String)> {
        let p = self.payments.get_mut(id)?;
        let amount = p.captured - p.refunded - p.charged_back;
        if amount <= 0 {
            return None;
        }
        p.charged_back += amount;
        tracing::info!(payment_id = %id, amount, "payment charged back");
        Some((amount, p.currency.clone()))
    }

    /// Performs a money call and returns its answer.
    pub fn execute(&mut self, op: MoneyOp) -> ApiResponse {
        self.effects += 1;
        match op {
            MoneyOp::Create {
                token,
                amount,
                currency,
                capture,
                authentication,
            } => {
                let needs_3ds =
                    Token::parse(&token).is_some_and(|t| t.behavior == Behavior::ThreeDs);
                let authenticated = crate::three_ds::authenticated(
                    &self.authentications,
                    authentication.as_deref(),
                    &token,
                    amount,
                );
                if authenticated {
                    self.authenticated_tokens.insert(token.clone());
                }
                if needs_3ds && !authenticated && !self.authenticated_tokens.contains(&token) {
                    return ApiResponse::error(
                        StatusCode::PAYMENT_REQUIRED,
                        "authentication_required",
                        "this card needs a 3-D Secure authentication",
                    );
                }
                self.create(&token, amount, currency, capture)
            }
            MoneyOp::Capture { id, amount } => {
                let answer =
                    self.move_money(&id, "capture", |p| p.capture(amount).map(|_| p.to_json()));
                if answer.status.is_success()
                    && self.payments.get(&id).is_some_and(|p| p.disputed_card)
                    && !self.due_chargebacks.contains(&id)
                {
                    self.due_chargebacks.push(id);
                }
                answer
            }
            MoneyOp::Release { id, amount } => {
                self.move_money(&id, "release", |p| p.release(amount).map(|_| p.to_json()))
            }
            MoneyOp::Refund { id, amount } => self.move_money(&id, "refund", |p| {
                p.refund(amount).map(|_| {
                    json!({
                        "refund_id": format!("re_{}", uuid::Uuid::new_v4().simple()),
                        "payment": p.to_json(),
                    })
                })
            }),
        }
    }

    fn create(
        &mut self,
        token_text: &str,
        amount: i64,
        currency: String,
        capture: bool,
    ) -> ApiResponse {
        let Some(token) = Token::parse(token_text) else {
            return ApiResponse::error(
                StatusCode::BAD_REQUEST,
                "invalid_token",
                "unknown or malformed card token",
            );
        };
        if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_alphabetic()) {
            return ApiResponse::invalid_request("currency must be a 3-letter code");
        }
        if amount < 0 || (amount == 0 && capture) {
            return ApiResponse::error(
                StatusCode::BAD_REQUEST,
                "invalid_amount",
                "amount must be greater than zero (zero only for an authorization without capture)",
            );
        }
        let mut payment = Payment::new(amount, currency);
        let decline = match token.behavior {
            Behavior::Decline => Some(("card_declined", "the card was declined")),
            Behavior::NoFunds => Some(("insufficient_funds", "the card has insufficient funds")),
            Behavior::Fraud => Some(("fraudulent", "the payment was refused as fraudulent")),
            Behavior::DeclineLater if !self.used_tokens.insert(token_text.to_string()) => {
                Some(("card_declined", "the card was declined"))
            }
            Behavior::Ok
            | Behavior::DeclineLater
            | Behavior::Flaky
            | Behavior::Slow
            | Behavior::ThreeDs
            | Behavior::Chargeback => None,
        };
        let response = if let Some((code, message)) = decline {
            payment.declined = true;
            let mut response = ApiResponse::error(StatusCode::PAYMENT_REQUIRED, code, message);
            if let Some(body) = response.body.as_object_mut() {
                body.insert("id".into(), Value::String(payment.id.clone()));
            }
            response
        } else {
            payment.authorized = amount;
            payment.disputed_card = token.behavior == Behavior::Chargeback;
            if capture {
                payment.captured = amount;
                if payment.disputed_card {
                    self.due_chargebacks.push(payment.id.clone());
                }
            }
            ApiResponse::ok(payment.to_json())
        };
        tracing::info!(
            payment_id = %payment.id,
            status = payment.status(),
            amount,
            currency = %payment.currency,
            behavior = token.behavior.as_str(),
            last4 = %token.last4,
            "payment created"
        );
        self.payments.insert(payment.id.clone(), payment);
        response
    }

    fn move_money(
        &mut self,
        id: &str,
        what: &str,
        apply: impl FnOnce(&mut Payment) -> Result<Value, crate::payments::MoveError>,
    ) -> ApiResponse {
        let Some(payment) = self.payments.get_mut(id) else {
            return ApiResponse::not_found("no such payment");
        };
        match apply(payment) {
            Ok(body) => {
                tracing::info!(
                    payment_id = %id,
                    operation = what,
                    status = payment.status(),
                    captured = payment.captured,
                    released = payment.released,
                    refunded = payment.refunded,
                    "payment updated"
                );
                ApiResponse::ok(body)
            }
            Err(err) => {
                tracing::info!(payment_id = %id, operation = what, error = %err, "payment operation refused");
                err.into()
            }
        }
    }
}
