//! An audit event's entity id holds a customer's email address (up to 254
//! characters) as well as keys and ids: 128 was too narrow on Postgres. SQLite
//! does not enforce declared lengths, so only Postgres changes.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

async fn set_length(manager: &SchemaManager<'_>, length: u32) -> Result<(), DbErr> {
    if manager.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    let sql = format!("ALTER TABLE audit_events ALTER COLUMN entity_id TYPE VARCHAR({length})");
    manager.get_connection().execute_unprepared(&sql).await.map(drop)
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        set_length(manager, 320).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        set_length(manager, 128).await
    }
}
