//! The raw storefront event log on sea-orm. `record` is its own short
//! transaction on the writer, so a delivery is durable before processing starts.

use async_trait::async_trait;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter};
use tessera_domain::audit::AuditEvent;
use tessera_domain::license::CreateLicenseError;
use tessera_domain::page::{Page, PageRequest};
use tessera_domain::repository::RepositoryError;
use tessera_domain::storefront::{EventFilter, EventOutcome, FinishedSale, RecordedEvent, StorefrontEventLog};
use uuid::Uuid;

use crate::entities::storefront_events;
use crate::errors::repository_error;
use crate::paging::newest_first;
use crate::rows::{corrupt, from_timestamp, timestamp};
use crate::sqlite_writes::WriteStatement;
use crate::SeaOrmStore;

/// Writes one processing attempt's outcome on event `id` and counts it.
fn finish_update(id: Uuid, outcome: &EventOutcome) -> sea_orm::UpdateMany<storefront_events::Entity> {
    use storefront_events::Column;
    storefront_events::Entity::update_many()
        .col_expr(Column::Status, Expr::value(outcome.status.to_string()))
        .col_expr(Column::Kind, Expr::value(outcome.kind.clone()))
        .col_expr(Column::DedupeKey, Expr::value(outcome.dedupe_key.clone()))
        .col_expr(Column::Error, Expr::value(outcome.error.clone()))
        .col_expr(Column::LicenseKey, Expr::value(outcome.license_key.clone()))
        .col_expr(Column::ProcessedAt, Expr::value(timestamp(outcome.processed_at)))
        .col_expr(Column::Attempts, Expr::col(Column::Attempts).add(1))
        .filter(Column::Id.eq(id.to_string()))
}

fn event_from_row(row: storefront_events::Model) -> Result<RecordedEvent, RepositoryError> {
    Ok(RecordedEvent {
        id: row.id.parse().map_err(|error| corrupt("event id", error))?,
        storefront: row.storefront,
        received_at: from_timestamp(row.received_at)?,
        query: row.query,
        body: row.body,
        status: row.status.parse().map_err(|error: String| corrupt("event status", error))?,
        kind: row.kind,
        dedupe_key: row.dedupe_key,
        error: row.error,
        license_key: row.license_key,
        attempts: u32::try_from(row.attempts).map_err(|error| corrupt("attempts", error))?,
        processed_at: row.processed_at.map(from_timestamp).transpose()?,
    })
}

#[async_trait]
impl StorefrontEventLog for SeaOrmStore {
    async fn record(&self, event: &RecordedEvent) -> Result<(), RepositoryError> {
        let row = storefront_events::Model {
            id: event.id.to_string(),
            storefront: event.storefront.clone(),
            received_at: timestamp(event.received_at),
            query: event.query.clone(),
            body: event.body.clone(),
            status: event.status.to_string(),
            kind: event.kind.clone(),
            dedupe_key: event.dedupe_key.clone(),
            error: event.error.clone(),
            license_key: event.license_key.clone(),
            attempts: i32::try_from(event.attempts).unwrap_or(i32::MAX),
            processed_at: event.processed_at.map(timestamp),
        };
        let insert = storefront_events::Entity::insert(row.into_active_model());
        if self.db.backend() == sea_orm::DbBackend::Sqlite {
            // Committed together with the writes queued beside it.
            use sea_orm::QueryTrait;
            self.db.sqlite_transaction(vec![WriteStatement::of(insert.as_query())]).await?;
        } else {
            insert.exec_without_returning(&self.db.writer).await.map_err(repository_error)?;
        }
        self.db.synced().await
    }

    async fn finish(&self, id: Uuid, outcome: &EventOutcome, audit: &AuditEvent) -> Result<bool, RepositoryError> {
        crate::writes::update_with_audit(&self.db, finish_update(id, outcome), audit).await
    }

    async fn create_license_and_finish(&self, sale: &FinishedSale<'_>) -> Result<(), CreateLicenseError> {
        let new = crate::outbox::NewLicense {
            license: sale.license,
            idempotency: sale.idempotency,
            license_audit: sale.license_audit,
            delivery: sale.delivery,
            delivery_audit: sale.delivery_audit,
        };
        self.store_new_license(&new, Some((finish_update(sale.event_id, sale.outcome), sale.outcome_audit))).await
    }

    async fn find_event(&self, id: Uuid) -> Result<Option<RecordedEvent>, RepositoryError> {
        let row = storefront_events::Entity::find_by_id(id.to_string())
            .one(&self.db.reader)
            .await
            .map_err(repository_error)?;
        row.map(event_from_row).transpose()
    }

    async fn list_events(
        &self,
        filter: &EventFilter,
        page: &PageRequest,
    ) -> Result<Page<RecordedEvent>, RepositoryError> {
        use storefront_events::Column;
        let mut query = storefront_events::Entity::find();
        if let Some(storefront) = &filter.storefront {
            query = query.filter(Column::Storefront.eq(storefront.as_str()));
        }
        if let Some(status) = filter.status {
            query = query.filter(Column::Status.eq(status.as_str()));
        }
        newest_first(query, Column::Id, page, &self.db.reader, event_from_row, |item| item.id.to_string()).await
    }
}
