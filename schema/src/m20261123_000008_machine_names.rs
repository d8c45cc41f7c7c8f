//! What the app calls a machine (e.g. its host name), so the buyer can tell
//! their machines apart in the portal.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let sql = "ALTER TABLE activations ADD COLUMN machine_name VARCHAR(100)";
        manager.get_connection().execute_unprepared(sql).await.map(drop)
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let sql = "ALTER TABLE activations DROP COLUMN machine_name";
        manager.get_connection().execute_unprepared(sql).await.map(drop)
    }
}
