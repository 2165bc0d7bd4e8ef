//! PostgreSQL: `paygate_assert(ok, failure)`, which fails the statement it is in unless `ok`.
//!
//! A batch of writes sent as one statement (`service::writes`) is atomic: when any part of
//! it fails, none of it is written. A batch that must write only if a row it reads is as
//! expected (a charge's card still usable) ends with this assertion on that row, so its
//! writes need no condition each. SQL has no way to raise an error of its own without a
//! function; the failure comes back as SQLSTATE P0001 with `failure` as its message.
//! Nothing on SQLite, where such batches run in a transaction instead.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const CREATE: &str = r#"
CREATE OR REPLACE FUNCTION paygate_assert(ok boolean, failure text) RETURNS integer
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  IF ok IS NOT TRUE THEN
    RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = failure;
  END IF;
  RETURN 1;
END
$$"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        manager.get_connection().execute_unprepared(CREATE).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared("DROP FUNCTION IF EXISTS paygate_assert(boolean, text)")
            .await?;
        Ok(())
    }
}
