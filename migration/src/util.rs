//! What every migration does: tables from entities, composite indexes by hand.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, EntityTrait, Schema};

/// Creates an entity's table (with the indexes the entity declares) if it is missing.
pub async fn create_table<E: EntityTrait>(
    manager: &SchemaManager<'_>,
    entity: E,
) -> Result<(), DbErr> {
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

/// Creates composite indexes: (name, table, columns, unique).
pub async fn create_indexes(
    manager: &SchemaManager<'_>,
    indexes: &[(&str, &str, &str, bool)],
) -> Result<(), DbErr> {
    let db = manager.get_connection();
    for (name, table, columns, unique) in indexes {
        let unique = if *unique { "UNIQUE " } else { "" };
        db.execute_unprepared(&format!(
            "CREATE {unique}INDEX IF NOT EXISTS {name} ON {table} ({columns})"
        ))
        .await?;
    }
    Ok(())
}

/// Drops tables, in the order given.
pub async fn drop_tables(manager: &SchemaManager<'_>, tables: &[&str]) -> Result<(), DbErr> {
    for table in tables {
        manager
            .drop_table(
                Table::drop()
                    .table(Alias::new(*table))
                    .if_exists()
                    .to_owned(),
            )
            .await?;
    }
    Ok(())
}
