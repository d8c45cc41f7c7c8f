//! The console's dashboard reads mints and sales per day (by `issued_at`, with
//! the source in the index so the count needs no table read), activations per
//! day, and licenses expiring soon: range scans on these, not table scans.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: [(&str, &str); 3] = [
    ("ix_licenses_issued_at", "licenses (issued_at, source)"),
    ("ix_licenses_expires_at", "licenses (expires_at)"),
    ("ix_activations_activated_at", "activations (activated_at)"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, on) in INDEXES {
            manager.get_connection().execute_unprepared(&format!("CREATE INDEX {name} ON {on}")).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, _) in INDEXES {
            manager.get_connection().execute_unprepared(&format!("DROP INDEX {name}")).await?;
        }
        Ok(())
    }
}
