//! Database migrations. Tables are created from the entities so that the two never drift;
//! composite indexes, which entities cannot declare, are added here by hand.
pub use sea_orm_migration::prelude::*;

mod m20261122_000001_foundation;
mod m20261122_000002_webhooks;
mod m20261122_000003_paylinks;
mod m20261123_000004_lifecycle;
mod m20261124_000005_partial_indexes;
mod m20261124_000006_event_outbox;
mod m20261206_000007_queue_tables_keep_pages;
mod m20261207_000008_assert_function;
mod util;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_foundation::Migration),
            Box::new(m20261122_000002_webhooks::Migration),
            Box::new(m20261122_000003_paylinks::Migration),
            Box::new(m20261123_000004_lifecycle::Migration),
            Box::new(m20261124_000005_partial_indexes::Migration),
            Box::new(m20261124_000006_event_outbox::Migration),
            Box::new(m20261206_000007_queue_tables_keep_pages::Migration),
            Box::new(m20261207_000008_assert_function::Migration),
        ]
    }
}
