//! Releases and their artifacts (the files' bytes are in the artifact store).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Releases {
    Table,
    Id,
    Product,
    Version,
    Channel,
    Notes,
    Status,
    CreatedAt,
    PublishedAt,
    YankedAt,
}

#[derive(DeriveIden)]
enum Artifacts {
    Table,
    Id,
    ReleaseId,
    Filename,
    Platform,
    Arch,
    Size,
    Sha256,
    Signature,
    SignatureKid,
    UpdaterSignature,
    StorageKey,
    Downloads,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Releases::Table)
                    .col(ColumnDef::new(Releases::Id).string_len(36).not_null().primary_key())
                    .col(ColumnDef::new(Releases::Product).string_len(64).not_null())
                    .col(ColumnDef::new(Releases::Version).string_len(64).not_null())
                    .col(ColumnDef::new(Releases::Channel).string_len(32).not_null())
                    .col(ColumnDef::new(Releases::Notes).text())
                    .col(ColumnDef::new(Releases::Status).string_len(16).not_null())
                    .col(ColumnDef::new(Releases::CreatedAt).big_integer().not_null())
                    .col(ColumnDef::new(Releases::PublishedAt).big_integer())
                    .col(ColumnDef::new(Releases::YankedAt).big_integer())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Artifacts::Table)
                    .col(ColumnDef::new(Artifacts::Id).string_len(36).not_null().primary_key())
                    .col(ColumnDef::new(Artifacts::ReleaseId).string_len(36).not_null())
                    .col(ColumnDef::new(Artifacts::Filename).string_len(200).not_null())
                    .col(ColumnDef::new(Artifacts::Platform).string_len(32).not_null())
                    .col(ColumnDef::new(Artifacts::Arch).string_len(32).not_null())
                    .col(ColumnDef::new(Artifacts::Size).big_integer().not_null())
                    .col(ColumnDef::new(Artifacts::Sha256).string_len(64).not_null())
                    .col(ColumnDef::new(Artifacts::Signature).text().not_null())
                    .col(ColumnDef::new(Artifacts::SignatureKid).string_len(64).not_null())
                    .col(ColumnDef::new(Artifacts::UpdaterSignature).text())
                    .col(ColumnDef::new(Artifacts::StorageKey).text().not_null())
                    .col(ColumnDef::new(Artifacts::Downloads).big_integer().not_null().default(0))
                    .col(ColumnDef::new(Artifacts::CreatedAt).big_integer().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_artifacts_release")
                            .from(Artifacts::Table, Artifacts::ReleaseId)
                            .to(Releases::Table, Releases::Id),
                    )
                    .to_owned(),
            )
            .await?;
        // One release per product and version, whatever the channel; one
        // file of a name per release (a re-upload replaces it).
        manager
            .create_index(
                Index::create()
                    .name("ux_releases_product_version")
                    .table(Releases::Table)
                    .col(Releases::Product)
                    .col(Releases::Version)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_releases_product_status")
                    .table(Releases::Table)
                    .col(Releases::Product)
                    .col(Releases::Status)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_artifacts_release_filename")
                    .table(Artifacts::Table)
                    .col(Artifacts::ReleaseId)
                    .col(Artifacts::Filename)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Artifacts::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Releases::Table).to_owned()).await
    }
}
