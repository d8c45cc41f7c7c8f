//! Machine activations. A seat counter on the license row, changed only by
//! conditional updates, keeps seat limits exact under concurrency on both
//! databases; a partial unique index gives each machine one live activation.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &[&str] = &[
    "ALTER TABLE licenses ADD COLUMN seats_used INTEGER NOT NULL DEFAULT 0",
    "CREATE TABLE activations (
        id VARCHAR(36) NOT NULL PRIMARY KEY,
        license_id VARCHAR(36) NOT NULL REFERENCES licenses (id),
        fingerprint VARCHAR(256) NOT NULL,
        platform VARCHAR(64),
        app_version VARCHAR(64),
        activated_at BIGINT NOT NULL,
        last_seen_at BIGINT NOT NULL,
        deactivated_at BIGINT
    )",
    // One live activation per machine and license: a concurrent duplicate fails here.
    "CREATE UNIQUE INDEX ux_activations_live_fingerprint ON activations (license_id, fingerprint)
        WHERE deactivated_at IS NULL",
    // Live machines of a license, and the churn count (deactivations in the last 24 h).
    "CREATE INDEX ix_activations_license_deactivated ON activations (license_id, deactivated_at)",
];

const DOWN: &[&str] = &["DROP TABLE activations", "ALTER TABLE licenses DROP COLUMN seats_used"];

async fn run(manager: &SchemaManager<'_>, statements: &[&str]) -> Result<(), DbErr> {
    for statement in statements {
        manager.get_connection().execute_unprepared(statement).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, DOWN).await
    }
}
