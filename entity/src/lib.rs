//! SeaORM entities of Paygate. Behaviour lives in the `service` crate.
pub mod api_key;
pub mod customer;
pub mod event;
pub mod idempotency_key;
pub mod job;
pub mod merchant;
pub mod operation;
pub mod paylink;
pub mod paylink_item;
pub mod payment;
pub mod payment_item;
pub mod payment_method;
pub mod product;
pub mod status_history;
pub mod webhook_attempt;
pub mod webhook_delivery;
pub mod webhook_endpoint;
