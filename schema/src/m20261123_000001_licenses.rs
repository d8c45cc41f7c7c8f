//! Licenses and the audit trail. Timestamps are Unix seconds (BIGINT): the same
//! on both databases, and the precision of token claims.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Licenses {
    Table,
    Id,
    Key,
    Product,
    Tier,
    Features,
    Seats,
    Kind,
    Name,
    Email,
    State,
    IssuedAt,
    ExpiresAt,
    Source,
    SourceRef,
    Notes,
    RevokeReason,
    Token,
    IdempotencyKey,
    IdempotencyRequest,
    UpdatedAt,
    Version,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    At,
    Actor,
    Action,
    EntityType,
    EntityId,
    Details,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Licenses::Table)
                    .col(ColumnDef::new(Licenses::Id).string_len(36).not_null().primary_key())
                    .col(ColumnDef::new(Licenses::Key).string_len(64).not_null())
                    .col(ColumnDef::new(Licenses::Product).string_len(64).not_null())
                    .col(ColumnDef::new(Licenses::Tier).string_len(32).not_null())
                    .col(ColumnDef::new(Licenses::Features).text().not_null())
                    .col(ColumnDef::new(Licenses::Seats).integer().not_null())
                    .col(ColumnDef::new(Licenses::Kind).string_len(16).not_null())
                    .col(ColumnDef::new(Licenses::Name).text().not_null())
                    .col(ColumnDef::new(Licenses::Email).string_len(254).not_null())
                    .col(ColumnDef::new(Licenses::State).string_len(16).not_null())
                    .col(ColumnDef::new(Licenses::IssuedAt).big_integer().not_null())
                    .col(ColumnDef::new(Licenses::ExpiresAt).big_integer().null())
                    .col(ColumnDef::new(Licenses::Source).string_len(32).not_null())
                    .col(ColumnDef::new(Licenses::SourceRef).text().null())
                    .col(ColumnDef::new(Licenses::Notes).text().null())
                    .col(ColumnDef::new(Licenses::RevokeReason).text().null())
                    .col(ColumnDef::new(Licenses::Token).text().not_null())
                    .col(ColumnDef::new(Licenses::IdempotencyKey).string_len(255).null())
                    .col(ColumnDef::new(Licenses::IdempotencyRequest).text().null())
                    .col(ColumnDef::new(Licenses::UpdatedAt).big_integer().not_null())
                    .col(ColumnDef::new(Licenses::Version).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        // Uniqueness is what makes keys and idempotent mints safe under any
        // concurrency and on both databases; the adapter maps these violations
        // by index name, so keep the names.
        manager
            .create_index(
                Index::create().name("ux_licenses_key").table(Licenses::Table).col(Licenses::Key).unique().to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_licenses_idempotency_key")
                    .table(Licenses::Table)
                    .col(Licenses::IdempotencyKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            ("ix_licenses_email", vec![Licenses::Email]),
            ("ix_licenses_product", vec![Licenses::Product]),
            ("ix_licenses_source_ref", vec![Licenses::Source, Licenses::SourceRef]),
        ] {
            let mut index = Index::create();
            index.name(name).table(Licenses::Table);
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .col(ColumnDef::new(AuditEvents::Id).string_len(36).not_null().primary_key())
                    .col(ColumnDef::new(AuditEvents::At).big_integer().not_null())
                    .col(ColumnDef::new(AuditEvents::Actor).string_len(64).not_null())
                    .col(ColumnDef::new(AuditEvents::Action).string_len(64).not_null())
                    .col(ColumnDef::new(AuditEvents::EntityType).string_len(32).not_null())
                    .col(ColumnDef::new(AuditEvents::EntityId).string_len(128).not_null())
                    .col(ColumnDef::new(AuditEvents::Details).text().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_audit_events_entity")
                    .table(AuditEvents::Table)
                    .col(AuditEvents::EntityType)
                    .col(AuditEvents::EntityId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(AuditEvents::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Licenses::Table).to_owned()).await
    }
}
