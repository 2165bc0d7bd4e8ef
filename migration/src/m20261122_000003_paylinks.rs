use entity::*;
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, EntityTrait, Schema};

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: &[(&str, &str, &str)] = &[
    (
        "ix_products_merchant",
        "products",
        "merchant_id, mode, created_at",
    ),
    (
        "ix_paylinks_merchant",
        "paylinks",
        "merchant_id, mode, created_at, id",
    ),
    ("ix_paylinks_expiry", "paylinks", "status, expires_at"),
    (
        "ix_paylink_items_paylink",
        "paylink_items",
        "paylink_id, position",
    ),
    ("ix_payments_checkout_code", "payments", "checkout_code"),
    ("ix_payments_paylink", "payments", "paylink_id"),
];

async fn create<E: EntityTrait>(manager: &SchemaManager<'_>, entity: E) -> Result<(), DbErr> {
    let schema = Schema::new(manager.get_database_backend());
    manager
        .create_table(
            schema
                .create_table_with_index_from_entity(entity)
                .if_not_exists()
                .to_owned(),
        )
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create(manager, product::Entity).await?;
        create(manager, paylink::Entity).await?;
        create(manager, paylink_item::Entity).await?;
        let db = manager.get_connection();
        for (name, table, columns) in INDEXES {
            db.execute_unprepared(&format!(
                "CREATE INDEX IF NOT EXISTS {name} ON {table} ({columns})"
            ))
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["paylink_items", "paylinks", "products"] {
            manager
                .drop_table(
                    Table::drop()
                        .table(Alias::new(table))
                        .if_exists()
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
