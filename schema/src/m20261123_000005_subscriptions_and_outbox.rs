//! Subscriptions and the email outbox.
//!
//! - A license may follow a storefront subscription (`subscription_id`, unique
//!   per source) and stop renewing when it is cancelled.
//! - `license_effects` records once-only changes (one storefront charge
//!   extends a license once): its primary key is what makes that hold under
//!   any concurrency, in the same transaction as the license update.
//! - `deliveries` is the outbox; a unique `dedupe_key` makes queueing
//!   idempotent, and workers claim rows with conditional updates on `status`.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Licenses {
    Table,
    Source,
    SubscriptionId,
}

#[derive(DeriveIden)]
enum LicenseEffects {
    Table,
    Effect,
    LicenseId,
    AppliedAt,
}

#[derive(DeriveIden)]
enum Deliveries {
    Table,
    Id,
    Kind,
    LicenseKey,
    ToAddress,
    Status,
    Attempts,
    NextAttemptAt,
    LastError,
    ProviderMessageId,
    DedupeKey,
    CreatedAt,
    UpdatedAt,
    SentAt,
    ClaimedUntil,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("ALTER TABLE licenses ADD COLUMN subscription_id VARCHAR(200)").await?;
        db.execute_unprepared("ALTER TABLE licenses ADD COLUMN subscription_renewing BOOLEAN").await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_licenses_subscription")
                    .table(Licenses::Table)
                    .col(Licenses::Source)
                    .col(Licenses::SubscriptionId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(LicenseEffects::Table)
                    .col(ColumnDef::new(LicenseEffects::Effect).string_len(300).not_null().primary_key())
                    .col(ColumnDef::new(LicenseEffects::LicenseId).string_len(36).not_null())
                    .col(ColumnDef::new(LicenseEffects::AppliedAt).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Deliveries::Table)
                    .col(ColumnDef::new(Deliveries::Id).string_len(36).not_null().primary_key())
                    .col(ColumnDef::new(Deliveries::Kind).string_len(16).not_null())
                    .col(ColumnDef::new(Deliveries::LicenseKey).string_len(64))
                    .col(ColumnDef::new(Deliveries::ToAddress).string_len(254).not_null())
                    .col(ColumnDef::new(Deliveries::Status).string_len(16).not_null())
                    .col(ColumnDef::new(Deliveries::Attempts).integer().not_null().default(0))
                    .col(ColumnDef::new(Deliveries::NextAttemptAt).big_integer().not_null())
                    .col(ColumnDef::new(Deliveries::LastError).text())
                    .col(ColumnDef::new(Deliveries::ProviderMessageId).string_len(128))
                    .col(ColumnDef::new(Deliveries::DedupeKey).string_len(300))
                    .col(ColumnDef::new(Deliveries::CreatedAt).big_integer().not_null())
                    .col(ColumnDef::new(Deliveries::UpdatedAt).big_integer().not_null())
                    .col(ColumnDef::new(Deliveries::SentAt).big_integer())
                    .col(ColumnDef::new(Deliveries::ClaimedUntil).big_integer())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_deliveries_dedupe_key")
                    .table(Deliveries::Table)
                    .col(Deliveries::DedupeKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            ("ix_deliveries_due", vec![Deliveries::Status, Deliveries::NextAttemptAt]),
            ("ix_deliveries_license_key", vec![Deliveries::LicenseKey]),
        ] {
            let mut index = Index::create();
            index.name(name).table(Deliveries::Table);
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Deliveries::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(LicenseEffects::Table).to_owned()).await?;
        manager.drop_index(Index::drop().name("ux_licenses_subscription").table(Licenses::Table).to_owned()).await?;
        let db = manager.get_connection();
        db.execute_unprepared("ALTER TABLE licenses DROP COLUMN subscription_renewing").await?;
        db.execute_unprepared("ALTER TABLE licenses DROP COLUMN subscription_id").await.map(drop)
    }
}
