//! Usage events and flags reported by activated machines.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum UsageEvents {
    Table,
    Id,
    LicenseKey,
    ActivationId,
    Event,
    Metadata,
    At,
}

#[derive(DeriveIden)]
enum Flags {
    Table,
    Id,
    LicenseKey,
    ActivationId,
    Reason,
    Message,
    Metadata,
    Status,
    Action,
    CreatedAt,
    ReviewedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(UsageEvents::Table)
                    .col(ColumnDef::new(UsageEvents::Id).string_len(36).not_null().primary_key())
                    .col(ColumnDef::new(UsageEvents::LicenseKey).string_len(64).not_null())
                    .col(ColumnDef::new(UsageEvents::ActivationId).string_len(36).not_null())
                    .col(ColumnDef::new(UsageEvents::Event).string_len(64).not_null())
                    .col(ColumnDef::new(UsageEvents::Metadata).text().not_null())
                    .col(ColumnDef::new(UsageEvents::At).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Flags::Table)
                    .col(ColumnDef::new(Flags::Id).string_len(36).not_null().primary_key())
                    .col(ColumnDef::new(Flags::LicenseKey).string_len(64).not_null())
                    .col(ColumnDef::new(Flags::ActivationId).string_len(36).not_null())
                    .col(ColumnDef::new(Flags::Reason).string_len(64).not_null())
                    .col(ColumnDef::new(Flags::Message).text())
                    .col(ColumnDef::new(Flags::Metadata).text().not_null())
                    .col(ColumnDef::new(Flags::Status).string_len(16).not_null())
                    .col(ColumnDef::new(Flags::Action).text())
                    .col(ColumnDef::new(Flags::CreatedAt).big_integer().not_null())
                    .col(ColumnDef::new(Flags::ReviewedAt).big_integer())
                    .to_owned(),
            )
            .await?;
        for (name, table, columns) in [
            (
                "ix_usage_events_license",
                UsageEvents::Table.into_iden(),
                vec![UsageEvents::LicenseKey.into_iden(), UsageEvents::Id.into_iden()],
            ),
            (
                "ix_usage_events_event",
                UsageEvents::Table.into_iden(),
                vec![UsageEvents::Event.into_iden(), UsageEvents::Id.into_iden()],
            ),
            ("ix_flags_status", Flags::Table.into_iden(), vec![Flags::Status.into_iden(), Flags::Id.into_iden()]),
            ("ix_flags_license", Flags::Table.into_iden(), vec![Flags::LicenseKey.into_iden()]),
        ] {
            let mut index = Index::create();
            index.name(name).table(table);
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Flags::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(UsageEvents::Table).to_owned()).await
    }
}
