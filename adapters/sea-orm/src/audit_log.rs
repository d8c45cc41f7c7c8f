//! `AuditLog` on sea-orm: the audit trail every write appends to in its own
//! transaction, read newest first.

use async_trait::async_trait;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, TransactionTrait};
use tessera_domain::audit::{AuditEvent, AuditFilter, AuditLog};
use tessera_domain::page::{Page, PageRequest};
use tessera_domain::repository::RepositoryError;

use crate::entities::audit_events;
use crate::errors::repository_error;
use crate::paging::newest_first;
use crate::rows::{audit_from_row, audit_row, timestamp};
use crate::SeaOrmStore;

#[async_trait]
impl AuditLog for SeaOrmStore {
    async fn list_audit(&self, filter: &AuditFilter, page: &PageRequest) -> Result<Page<AuditEvent>, RepositoryError> {
        use audit_events::Column;
        let mut query = audit_events::Entity::find();
        for (column, value) in [
            (Column::EntityType, &filter.entity_type),
            (Column::EntityId, &filter.entity_id),
            (Column::Actor, &filter.actor),
            (Column::Action, &filter.action),
        ] {
            if let Some(value) = value {
                query = query.filter(column.eq(value.as_str()));
            }
        }
        if let Some(since) = filter.since {
            query = query.filter(Column::At.gte(timestamp(since)));
        }
        if let Some(until) = filter.until {
            query = query.filter(Column::At.lt(timestamp(until)));
        }
        newest_first(query, Column::Id, page, &self.db.reader, audit_from_row, |item| item.id.to_string()).await
    }

    async fn append(&self, event: &AuditEvent) -> Result<(), RepositoryError> {
        let txn = self.db.writer.begin().await.map_err(repository_error)?;
        audit_events::Entity::insert(audit_row(event)).exec_without_returning(&txn).await.map_err(repository_error)?;
        self.db.commit(txn).await
    }
}
