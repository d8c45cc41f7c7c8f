//! Customers, keyed by email, backfilled from the licenses that exist.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Customers {
    Table,
    Email,
    Name,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Customers::Table)
                    .col(ColumnDef::new(Customers::Email).string_len(254).not_null().primary_key())
                    .col(ColumnDef::new(Customers::Name).text().not_null())
                    .col(ColumnDef::new(Customers::CreatedAt).big_integer().not_null())
                    .col(ColumnDef::new(Customers::UpdatedAt).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "INSERT INTO customers (email, name, created_at, updated_at) \
                 SELECT email, MIN(name), MIN(issued_at), MIN(issued_at) FROM licenses GROUP BY email",
            )
            .await
            .map(drop)
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Customers::Table).to_owned()).await
    }
}
