//! The payment state machine: every status and the one table of allowed transitions.
//! Nothing changes a payment's status except through [`PaymentStatus::can_move_to`].
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

macro_rules! statuses {
    ($($variant:ident => $name:literal),* $(,)?) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
        pub enum PaymentStatus { $($variant),* }

        impl PaymentStatus {
            pub const ALL: &'static [PaymentStatus] = &[$(PaymentStatus::$variant),*];

            pub fn as_str(&self) -> &'static str {
                match self { $(PaymentStatus::$variant => $name),* }
            }
        }

        impl FromStr for PaymentStatus {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($name => Ok(PaymentStatus::$variant),)*
                    other => Err(format!("unknown payment status {other:?}")),
                }
            }
        }
    };
}

statuses! {
    Created => "CREATED",
    PendingCharge => "PENDING_CHARGE",
    PendingExecute => "PENDING_EXECUTE",
    Hold => "HOLD",
    PendingCapture => "PENDING_CAPTURE",
    Paid => "PAID",
    PendingRelease => "PENDING_RELEASE",
    Released => "RELEASED",
    PendingRefund => "PENDING_REFUND",
    Refunded => "REFUNDED",
    Error => "ERROR",
    Blocked => "BLOCKED",
    Cancelled => "CANCELLED",
    PendingConfirmation => "PENDING_CONFIRMATION",
    Accepted => "ACCEPTED",
    Declined => "DECLINED",
    Sent => "SENT",
    Viewed => "VIEWED",
    Overdue => "OVERDUE",
    Expired => "EXPIRED",
    Preauthorized => "PREAUTHORIZED",
    Cleared => "CLEARED",
    Settled => "SETTLED",
    Chargeback => "CHARGEBACK",
}

use PaymentStatus::*;

/// Where a payable payment (CREATED, SENT, VIEWED, OVERDUE) may go: charged (captured at
/// once) or executed (authorized), cancelled, or expired by its strict due date. A cancel
/// may also arrive while the authorization is in flight (Payer's race): the payment is
/// CANCELLED at once and an authorization that still goes through is released.
const PAYABLE_TO: &[PaymentStatus] = &[PendingCharge, PendingExecute, Cancelled, Expired];

/// Every allowed move. A pair not listed here is forbidden.
const TRANSITIONS: &[(PaymentStatus, &[PaymentStatus])] = &[
    (
        Created,
        &[
            PendingCharge,
            PendingExecute,
            Cancelled,
            Expired,
            PendingConfirmation,
            Sent,
            Viewed,
            Overdue,
        ],
    ),
    // Chip's invoice flow: the link was sent, then the buyer opened the page.
    (
        Sent,
        &[
            PendingCharge,
            PendingExecute,
            Cancelled,
            Expired,
            Viewed,
            Overdue,
        ],
    ),
    (
        Viewed,
        &[PendingCharge, PendingExecute, Cancelled, Expired, Overdue],
    ),
    // Past its due date but still payable (a strict due date makes it EXPIRED instead).
    (Overdue, PAYABLE_TO),
    (Expired, &[]),
    // A charge the buyer must accept first (LiveChat Direct Charges): accepting authorizes
    // the card (PENDING_EXECUTE → ACCEPTED); the merchant's activation captures it
    // (ACCEPTED → PENDING_EXECUTE → PAID, or ERROR).
    (PendingConfirmation, &[PendingExecute, Declined, Cancelled]),
    (Accepted, &[PendingExecute]),
    (Declined, &[]),
    // A declined attempt on a hosted page leaves the payment payable (CREATED) for another
    // card; a declined server-side charge ends in ERROR.
    (PendingCharge, &[Paid, Error, Blocked, Created, Cancelled]),
    (
        PendingExecute,
        &[
            Hold,
            Paid,
            Error,
            Blocked,
            Created,
            Accepted,
            PendingConfirmation,
            Preauthorized,
            Cancelled,
        ],
    ),
    // A zero-amount card check: the card is saved, nothing more happens to the payment.
    (Preauthorized, &[]),
    (Hold, &[PendingCapture, PendingRelease]),
    // A capture that fails leaves the hold as it was.
    (PendingCapture, &[Paid, Hold]),
    // A partly captured payment may capture or release the rest, and refund what was
    // captured; a fully captured one is cleared, then settled, by the acquirer's schedule.
    (
        Paid,
        &[
            PendingCapture,
            PendingRelease,
            PendingRefund,
            Cleared,
            Chargeback,
        ],
    ),
    (Cleared, &[Settled, PendingRefund, Chargeback]),
    (Settled, &[PendingRefund, Chargeback]),
    (PendingRelease, &[Released, Hold, Paid]),
    // A refund returns the payment to where it was (PAID, CLEARED or SETTLED) or ends it.
    (PendingRefund, &[Paid, Cleared, Settled, Refunded]),
    (Chargeback, &[]),
    (Released, &[]),
    (Refunded, &[]),
    (Error, &[]),
    (Blocked, &[]),
    (Cancelled, &[]),
];

impl PaymentStatus {
    pub fn can_move_to(self, to: PaymentStatus) -> bool {
        TRANSITIONS
            .iter()
            .find(|(from, _)| *from == self)
            .is_some_and(|(_, tos)| tos.contains(&to))
    }

    /// A terminal status never moves again.
    pub fn is_terminal(self) -> bool {
        TRANSITIONS
            .iter()
            .any(|(from, tos)| *from == self && tos.is_empty())
    }

    /// A status in which an operation is waiting for the acquirer.
    pub fn is_pending(self) -> bool {
        matches!(
            self,
            PendingCharge | PendingExecute | PendingCapture | PendingRelease | PendingRefund
        )
    }

    /// A payment that waits for the buyer's card: the hosted page takes payment, and
    /// chargePayment or cancelPayment apply.
    pub fn is_payable(self) -> bool {
        matches!(self, Created | Sent | Viewed | Overdue)
    }

    /// Captured money that can be refunded or charged back.
    pub fn is_captured(self) -> bool {
        matches!(self, Paid | Cleared | Settled)
    }
}

impl fmt::Display for PaymentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The specification, written out independently of the table above.
    const EXPECTED: &[(&str, &str)] = &[
        ("CREATED", "PENDING_CHARGE"),
        ("CREATED", "PENDING_EXECUTE"),
        ("CREATED", "CANCELLED"),
        ("CREATED", "PENDING_CONFIRMATION"),
        ("CREATED", "EXPIRED"),
        ("CREATED", "SENT"),
        ("CREATED", "VIEWED"),
        ("CREATED", "OVERDUE"),
        ("SENT", "PENDING_CHARGE"),
        ("SENT", "PENDING_EXECUTE"),
        ("SENT", "CANCELLED"),
        ("SENT", "EXPIRED"),
        ("SENT", "VIEWED"),
        ("SENT", "OVERDUE"),
        ("VIEWED", "PENDING_CHARGE"),
        ("VIEWED", "PENDING_EXECUTE"),
        ("VIEWED", "CANCELLED"),
        ("VIEWED", "EXPIRED"),
        ("VIEWED", "OVERDUE"),
        ("OVERDUE", "PENDING_CHARGE"),
        ("OVERDUE", "PENDING_EXECUTE"),
        ("OVERDUE", "CANCELLED"),
        ("OVERDUE", "EXPIRED"),
        ("PENDING_CHARGE", "CANCELLED"),
        ("PENDING_EXECUTE", "CANCELLED"),
        ("PENDING_EXECUTE", "PREAUTHORIZED"),
        ("PAID", "CLEARED"),
        ("PAID", "CHARGEBACK"),
        ("CLEARED", "SETTLED"),
        ("CLEARED", "PENDING_REFUND"),
        ("CLEARED", "CHARGEBACK"),
        ("SETTLED", "PENDING_REFUND"),
        ("SETTLED", "CHARGEBACK"),
        ("PENDING_REFUND", "CLEARED"),
        ("PENDING_REFUND", "SETTLED"),
        ("PENDING_CONFIRMATION", "PENDING_EXECUTE"),
        ("PENDING_CONFIRMATION", "DECLINED"),
        ("PENDING_CONFIRMATION", "CANCELLED"),
        ("ACCEPTED", "PENDING_EXECUTE"),
        ("PENDING_EXECUTE", "ACCEPTED"),
        ("PENDING_EXECUTE", "PENDING_CONFIRMATION"),
        ("PENDING_CHARGE", "PAID"),
        ("PENDING_CHARGE", "CREATED"),
        ("PENDING_EXECUTE", "CREATED"),
        ("PENDING_CHARGE", "ERROR"),
        ("PENDING_CHARGE", "BLOCKED"),
        ("PENDING_EXECUTE", "HOLD"),
        ("PENDING_EXECUTE", "PAID"),
        ("PENDING_EXECUTE", "ERROR"),
        ("PENDING_EXECUTE", "BLOCKED"),
        ("HOLD", "PENDING_CAPTURE"),
        ("HOLD", "PENDING_RELEASE"),
        ("PENDING_CAPTURE", "PAID"),
        ("PENDING_CAPTURE", "HOLD"),
        ("PAID", "PENDING_CAPTURE"),
        ("PAID", "PENDING_RELEASE"),
        ("PAID", "PENDING_REFUND"),
        ("PENDING_RELEASE", "RELEASED"),
        ("PENDING_RELEASE", "HOLD"),
        ("PENDING_RELEASE", "PAID"),
        ("PENDING_REFUND", "PAID"),
        ("PENDING_REFUND", "REFUNDED"),
    ];

    #[test]
    fn every_pair_of_statuses_is_allowed_or_forbidden_as_specified() {
        let mut checked = 0;
        for from in PaymentStatus::ALL {
            for to in PaymentStatus::ALL {
                let expected = EXPECTED.contains(&(from.as_str(), to.as_str()));
                assert_eq!(from.can_move_to(*to), expected, "{from} → {to}");
                checked += 1;
            }
        }
        assert_eq!(checked, PaymentStatus::ALL.len() * PaymentStatus::ALL.len());
    }

    #[test]
    fn terminal_statuses_never_move_back() {
        for s in [
            Released,
            Refunded,
            Error,
            Blocked,
            Cancelled,
            Declined,
            Expired,
            Preauthorized,
            Chargeback,
        ] {
            assert!(s.is_terminal(), "{s} is terminal");
            for to in PaymentStatus::ALL {
                assert!(!s.can_move_to(*to), "{s} must not move to {to}");
            }
        }
        assert!(!Paid.is_terminal());
    }

    #[test]
    fn every_status_has_a_row_and_round_trips_as_text() {
        for s in PaymentStatus::ALL {
            assert!(
                TRANSITIONS.iter().any(|(from, _)| from == s),
                "{s} has no row"
            );
            assert_eq!(s.as_str().parse::<PaymentStatus>().ok(), Some(*s));
        }
        assert!("NOPE".parse::<PaymentStatus>().is_err());
    }
}
