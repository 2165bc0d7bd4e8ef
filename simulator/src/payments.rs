//! Payments and their money movements (authorize, capture, release, refund).

use axum::http::StatusCode;
use serde_json::{Value, json};
use thiserror::Error;

use crate::response::ApiResponse;

#[derive(Debug, Clone)]
pub struct Payment {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    pub authorized: i64,
    pub captured: i64,
    pub released: i64,
    pub refunded: i64,
    pub declined: bool,
    /// Paid with the chargeback test card: its capture is charged back later.
    pub disputed_card: bool,
    pub charged_back: i64,
}

/// Why a money movement on an existing payment was refused.
#[derive(Debug, Clone, Copy, Error, PartialEq, Eq)]
pub enum MoveError {
    #[error("the amount must be greater than zero")]
    InvalidAmount,
    #[error("the amount exceeds what is left ({0})")]
    TooLarge(i64),
    #[error("the payment is not in a state allowing this operation")]
    InvalidState,
}

impl From<MoveError> for ApiResponse {
    fn from(err: MoveError) -> Self {
        let code = match err {
            MoveError::InvalidAmount => "invalid_amount",
            MoveError::TooLarge(_) => "amount_too_large",
            MoveError::InvalidState => "invalid_state",
        };
        ApiResponse::error(StatusCode::BAD_REQUEST, code, err.to_string())
    }
}

/// Picks the amount to move: `requested` (must be > 0) or all of `left`.
fn amount_to_move(requested: Option<i64>, left: i64) -> Result<i64, MoveError> {
    if requested.is_some_and(|a| a <= 0) {
        return Err(MoveError::InvalidAmount);
    }
    if left <= 0 {
        return Err(MoveError::InvalidState);
    }
    let amount = requested.unwrap_or(left);
    if amount > left {
        return Err(MoveError::TooLarge(left));
    }
    Ok(amount)
}

impl Payment {
    pub fn new(amount: i64, currency: String) -> Self {
        Self {
            id: format!("pay_{}", uuid::Uuid::new_v4().simple()),
            amount,
            currency,
            authorized: 0,
            captured: 0,
            released: 0,
            refunded: 0,
            declined: false,
            disputed_card: false,
            charged_back: 0,
        }
    }

    /// Authorized and neither captured nor released yet.
    pub fn uncaptured(&self) -> i64 {
        self.authorized - self.captured - self.released
    }

    pub fn status(&self) -> &'static str {
        if self.declined {
            "declined"
        } else if self.charged_back > 0 {
            "charged_back"
        } else if self.uncaptured() > 0 || (self.captured == 0 && self.released == 0) {
            "authorized"
        } else if self.captured > 0 {
            "captured"
        } else {
            "released"
        }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "status": self.status(),
            "amount": self.amount,
            "currency": self.currency,
            "authorized_amount": self.authorized,
            "captured_amount": self.captured,
            "released_amount": self.released,
            "refunded_amount": self.refunded,
        })
    }

    pub fn capture(&mut self, amount: Option<i64>) -> Result<i64, MoveError> {
        let amount = amount_to_move(amount, self.uncaptured())?;
        self.captured += amount;
        Ok(amount)
    }

    pub fn release(&mut self, amount: Option<i64>) -> Result<i64, MoveError> {
        let amount = amount_to_move(amount, self.uncaptured())?;
        self.released += amount;
        Ok(amount)
    }

    pub fn refund(&mut self, amount: Option<i64>) -> Result<i64, MoveError> {
        if self.captured == 0 {
            return Err(MoveError::InvalidState);
        }
        let left = self.captured - self.refunded;
        let amount = match amount_to_move(amount, left) {
            // Something was captured but it is all refunded already.
            Err(MoveError::InvalidState) => return Err(MoveError::TooLarge(0)),
            other => other?,
        };
        self.refunded += amount;
        Ok(amount)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authorized(amount: i64) -> Payment {
        let mut p = Payment::new(amount, "EUR".into());
        p.authorized = amount;
        p
    }

    #[test]
    fn partial_captures_then_refunds() {
        let mut p = authorized(1000);
        assert_eq!(p.status(), "authorized");
        assert_eq!(p.capture(Some(1001)), Err(MoveError::TooLarge(1000)));
        assert_eq!(p.capture(Some(0)), Err(MoveError::InvalidAmount));
        assert_eq!(p.capture(Some(400)), Ok(400));
        assert_eq!(p.status(), "authorized");
        assert_eq!(p.capture(None), Ok(600));
        assert_eq!(p.status(), "captured");
        assert_eq!(p.capture(Some(1)), Err(MoveError::InvalidState));
        assert_eq!(p.release(None), Err(MoveError::InvalidState));
        assert_eq!(p.refund(Some(700)), Ok(700));
        assert_eq!(p.refund(Some(301)), Err(MoveError::TooLarge(300)));
        assert_eq!(p.refund(None), Ok(300));
        assert_eq!(p.refund(Some(1)), Err(MoveError::TooLarge(0)));
        assert_eq!(p.status(), "captured");
    }

    #[test]
    fn release_then_nothing_left() {
        let mut p = authorized(1000);
        assert_eq!(p.refund(Some(1)), Err(MoveError::InvalidState));
        assert_eq!(p.release(Some(300)), Ok(300));
        assert_eq!(p.capture(Some(800)), Err(MoveError::TooLarge(700)));
        assert_eq!(p.release(None), Ok(700));
        assert_eq!(p.status(), "released");
        assert_eq!(p.release(None), Err(MoveError::InvalidState));
        assert_eq!(p.capture(None), Err(MoveError::InvalidState));
    }

    #[test]
    fn declined_and_zero_amount_cannot_move() {
        let mut p = Payment::new(1000, "EUR".into());
        p.declined = true;
        assert_eq!(p.status(), "declined");
        assert_eq!(p.capture(None), Err(MoveError::InvalidState));
        let mut check = authorized(0);
        assert_eq!(check.status(), "authorized");
        assert_eq!(check.capture(None), Err(MoveError::InvalidState));
        assert_eq!(check.release(None), Err(MoveError::InvalidState));
    }
}
