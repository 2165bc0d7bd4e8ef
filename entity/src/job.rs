//! `jobs` table.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "jobs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// What to do: `acquirer_call`, `resolve_pending`, ...
    pub kind: String,
    pub payload: Json,
    /// PENDING (waiting to be handed to the queue), DISPATCHED, DONE, FAILED.
    pub status: String,
    pub attempts: i32,
    pub run_at: DateTimeUtc,
    pub dispatched_at: Option<DateTimeUtc>,
    /// Counts hand-outs; a queued copy carrying an older number is stale and skipped.
    pub dispatches: i32,
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
