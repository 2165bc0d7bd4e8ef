//! The Paygate domain: money, the payment state machine, operations, idempotency, the
//! acquirer client, the job outbox and queue. Resolvers and job handlers stay thin over it.
pub mod acquirer;
pub mod autocommit;
pub mod bus;
pub mod checkout;
pub mod codes;
pub mod customers;
pub mod db;
pub mod error;
pub mod events;
pub mod gateway;
pub mod idempotency;
pub mod jobs;
pub mod merchants;
pub mod money;
pub mod notifications;
pub mod page;
pub mod paylinks;
pub mod payments;
pub mod products;
pub mod queue;
pub mod queue_tables;
pub mod secrets;
pub mod settings;
pub mod status;
pub mod webhooks;
pub mod writes;

pub use error::{Result, ServiceError};
pub use gateway::Gateway;
pub use merchants::{Caller, Mode};
pub use settings::Settings;
