//! Signed webhooks (the Standard Webhooks scheme): endpoints, their derived secrets,
//! fan-out of events to deliveries, and the state of each delivery.
mod deliveries;
mod endpoints;
mod signing;
mod urls;

pub use deliveries::{
    Attempt, AttemptOutcome, Delivery, FannedOut, abandon, attempts, claim_events_sql,
    deliveries_of, delivery_to_send, fan_out, fan_out_pending, record_attempt, redeliver,
};
pub use endpoints::{
    EndpointInput, EndpointUpdate, NewEndpoint, create, delete, enable, get, list, rotate_secret,
    secret, update,
};
pub use signing::{sign, signature_header};
pub use urls::{check_url, is_public_ip};

/// Every event type Paygate writes.
pub const EVENT_TYPES: &[&str] = &[
    "payment.created",
    "payment.pending_charge",
    "payment.pending_execute",
    "payment.paid",
    "payment.payment_failure",
    "payment.blocked",
    "payment.hold",
    "payment.pending_capture",
    "payment.captured",
    "payment.pending_release",
    "payment.released",
    "payment.cancelled",
    "payment.pending_refund",
    "payment.refunded",
    "payment.operation_failed",
    "payment.pending_confirmation",
    "payment.accepted",
    "payment.declined",
    "payment.sent",
    "payment.viewed",
    "payment.overdue",
    "payment.expired",
    "payment.preauthorized",
    "payment.cleared",
    "payment.settled",
    "payment.chargeback",
    "payment.authorized_after_cancel",
    "paylink.created",
    "paylink.used",
    "paylink.expired",
    "paylink.deleted",
];
