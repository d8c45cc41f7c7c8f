//! The raw storefront event log: every authenticated delivery as received
//! (body bytes kept exactly), then what processing found.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum StorefrontEvents {
    Table,
    Id,
    Storefront,
    ReceivedAt,
    Query,
    Body,
    Status,
    Kind,
    DedupeKey,
    Error,
    LicenseKey,
    Attempts,
    ProcessedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(StorefrontEvents::Table)
                    .col(ColumnDef::new(StorefrontEvents::Id).string_len(36).not_null().primary_key())
                    .col(ColumnDef::new(StorefrontEvents::Storefront).string_len(32).not_null())
                    .col(ColumnDef::new(StorefrontEvents::ReceivedAt).big_integer().not_null())
                    .col(ColumnDef::new(StorefrontEvents::Query).text().not_null())
                    .col(ColumnDef::new(StorefrontEvents::Body).binary().not_null())
                    .col(ColumnDef::new(StorefrontEvents::Status).string_len(16).not_null())
                    .col(ColumnDef::new(StorefrontEvents::Kind).string_len(32))
                    .col(ColumnDef::new(StorefrontEvents::DedupeKey).string_len(300))
                    .col(ColumnDef::new(StorefrontEvents::Error).text())
                    .col(ColumnDef::new(StorefrontEvents::LicenseKey).string_len(64))
                    .col(ColumnDef::new(StorefrontEvents::Attempts).integer().not_null().default(0))
                    .col(ColumnDef::new(StorefrontEvents::ProcessedAt).big_integer())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_storefront_events_status")
                    .table(StorefrontEvents::Table)
                    .col(StorefrontEvents::Status)
                    .col(StorefrontEvents::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(StorefrontEvents::Table).to_owned()).await
    }
}
