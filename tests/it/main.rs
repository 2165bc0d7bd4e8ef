//! Paygate's integration tests: GraphQL over HTTP against a real server, worker and
//! acquirer simulator, on SQLite and (when switched on) PostgreSQL + Redis.
mod support;

mod auth;
mod charges;
mod cli;
mod concurrency;
mod consent;
mod crash;
mod idempotency;
mod lifecycle;
mod paylinks;
mod purchase;
mod queries;
mod queue;
mod queue_tables;
mod validation;
mod webhooks;
mod writes;
