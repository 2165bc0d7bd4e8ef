//! `webhook_endpoints` table.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_endpoints")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub merchant_id: Uuid,
    pub mode: String,
    pub url: String,
    pub description: Option<String>,
    /// The event types it wants (a JSON list); null = all.
    pub event_types: Option<Json>,
    /// Which secret signs now. The secret itself is derived from the master key, the
    /// endpoint id and this number, so no secret is ever stored.
    pub secret_version: i32,
    /// Until then the previous version signs too (rotation overlap).
    pub previous_secret_until: Option<DateTimeUtc>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    /// Set when a delivery to it failed for good.
    pub failing_since: Option<DateTimeUtc>,
    pub deleted_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
