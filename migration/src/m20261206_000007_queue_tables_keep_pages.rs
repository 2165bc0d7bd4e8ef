//! PostgreSQL: a vacuum of the outbox's tables leaves their empty pages in place.
//!
//! Rows come and go in `event_outbox` and `jobs` all the time, so after most vacuums the
//! end of the table is empty, and VACUUM then tries to give those pages back to the file
//! system. That takes the table's ACCESS EXCLUSIVE lock, which every transaction writing an
//! event or a job waits for, and VACUUM keeps trying for up to 5 s while they come. In the
//! benchmark one vacuum of the outbox spent 3.1 s at it during the charges. The pages are
//! filled again within seconds anyway, so truncating them is switched off (PostgreSQL 12+);
//! this holds for autovacuum too. Nothing on SQLite.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The tables as they were when this migration was written: `service::queue_tables::TABLES`
/// names them too, but a migration must not change when that list does.
const TABLES: [&str; 2] = ["event_outbox", "jobs"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        for table in TABLES {
            manager
                .get_connection()
                .execute_unprepared(&format!(
                    "ALTER TABLE \"{table}\" SET (vacuum_truncate = false)"
                ))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        for table in TABLES {
            manager
                .get_connection()
                .execute_unprepared(&format!("ALTER TABLE \"{table}\" RESET (vacuum_truncate)"))
                .await?;
        }
        Ok(())
    }
}
