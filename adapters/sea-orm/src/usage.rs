//! Usage events and flags on sea-orm.

use async_trait::async_trait;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, TransactionTrait};
use tessera_domain::audit::AuditEvent;
use tessera_domain::license::LicenseKey;
use tessera_domain::page::{Page, PageRequest};
use tessera_domain::repository::RepositoryError;
use tessera_domain::usage::{Flag, FlagFilter, FlagReview, FlagStatus, UsageEvent, UsageFilter, UsageRepository};
use uuid::Uuid;

use crate::entities::{audit_events, flags, usage_events};
use crate::errors::repository_error;
use crate::paging::newest_first;
use crate::rows::{audit_row, corrupt, from_timestamp, timestamp};
use crate::SeaOrmStore;

fn key(text: &str) -> Result<LicenseKey, RepositoryError> {
    LicenseKey::parse(text).map_err(|error| corrupt("license key", error))
}

fn id(text: &str) -> Result<Uuid, RepositoryError> {
    text.parse().map_err(|error| corrupt("id", error))
}

fn metadata(text: &str) -> Result<serde_json::Value, RepositoryError> {
    serde_json::from_str(text).map_err(|error| corrupt("metadata", error))
}

fn usage_from_row(row: usage_events::Model) -> Result<UsageEvent, RepositoryError> {
    Ok(UsageEvent {
        id: id(&row.id)?,
        license_key: key(&row.license_key)?,
        activation_id: id(&row.activation_id)?,
        event: row.event,
        metadata: metadata(&row.metadata)?,
        at: from_timestamp(row.at)?,
    })
}

fn flag_from_row(row: flags::Model) -> Result<Flag, RepositoryError> {
    Ok(Flag {
        id: id(&row.id)?,
        license_key: key(&row.license_key)?,
        activation_id: id(&row.activation_id)?,
        reason: row.reason,
        message: row.message,
        metadata: metadata(&row.metadata)?,
        status: row.status.parse().map_err(|error| corrupt("flag status", error))?,
        action: row.action,
        created_at: from_timestamp(row.created_at)?,
        reviewed_at: row.reviewed_at.map(from_timestamp).transpose()?,
    })
}

#[async_trait]
impl UsageRepository for SeaOrmStore {
    async fn record_usage(&self, event: &UsageEvent) -> Result<(), RepositoryError> {
        let row = usage_events::Model {
            id: event.id.to_string(),
            license_key: event.license_key.to_string(),
            activation_id: event.activation_id.to_string(),
            event: event.event.clone(),
            metadata: event.metadata.to_string(),
            at: timestamp(event.at),
        };
        usage_events::Entity::insert(row.into_active_model())
            .exec_without_returning(&self.db.writer)
            .await
            .map_err(repository_error)?;
        self.db.synced().await
    }

    async fn list_usage(&self, filter: &UsageFilter, page: &PageRequest) -> Result<Page<UsageEvent>, RepositoryError> {
        use usage_events::Column;
        let mut query = usage_events::Entity::find();
        if let Some(key) = &filter.license_key {
            query = query.filter(Column::LicenseKey.eq(key.as_str()));
        }
        if let Some(event) = &filter.event {
            query = query.filter(Column::Event.eq(event.as_str()));
        }
        if let Some(since) = filter.since {
            query = query.filter(Column::At.gte(timestamp(since)));
        }
        newest_first(query, Column::Id, page, &self.db.reader, usage_from_row, |item| item.id.to_string()).await
    }

    async fn create_flag(&self, flag: &Flag, audit: &AuditEvent) -> Result<(), RepositoryError> {
        let row = flags::Model {
            id: flag.id.to_string(),
            license_key: flag.license_key.to_string(),
            activation_id: flag.activation_id.to_string(),
            reason: flag.reason.clone(),
            message: flag.message.clone(),
            metadata: flag.metadata.to_string(),
            status: flag.status.as_str().to_owned(),
            action: flag.action.clone(),
            created_at: timestamp(flag.created_at),
            reviewed_at: flag.reviewed_at.map(timestamp),
        };
        let txn = self.db.writer.begin().await.map_err(repository_error)?;
        flags::Entity::insert(row.into_active_model()).exec_without_returning(&txn).await.map_err(repository_error)?;
        audit_events::Entity::insert(audit_row(audit)).exec_without_returning(&txn).await.map_err(repository_error)?;
        self.db.commit(txn).await
    }

    async fn list_flags(&self, filter: &FlagFilter, page: &PageRequest) -> Result<Page<Flag>, RepositoryError> {
        use flags::Column;
        let mut query = flags::Entity::find();
        if let Some(status) = filter.status {
            query = query.filter(Column::Status.eq(status.as_str()));
        }
        if let Some(key) = &filter.license_key {
            query = query.filter(Column::LicenseKey.eq(key.as_str()));
        }
        newest_first(query, Column::Id, page, &self.db.reader, flag_from_row, |item| item.id.to_string()).await
    }

    async fn find_flag(&self, id: Uuid) -> Result<Option<Flag>, RepositoryError> {
        flags::Entity::find_by_id(id.to_string())
            .one(&self.db.reader)
            .await
            .map_err(repository_error)?
            .map(flag_from_row)
            .transpose()
    }

    async fn review_flag(&self, id: Uuid, review: &FlagReview, audit: &AuditEvent) -> Result<bool, RepositoryError> {
        use flags::Column;
        let txn = self.db.writer.begin().await.map_err(repository_error)?;
        let updated = flags::Entity::update_many()
            .col_expr(Column::Status, Expr::value(review.status.as_str()))
            .col_expr(Column::Action, Expr::value(review.action.clone()))
            .col_expr(Column::ReviewedAt, Expr::value(timestamp(review.at)))
            .filter(Column::Id.eq(id.to_string()))
            .filter(Column::Status.eq(FlagStatus::Open.as_str()))
            .exec(&txn)
            .await
            .map_err(repository_error)?;
        if updated.rows_affected == 0 {
            let _ = txn.rollback().await;
            return Ok(false);
        }
        audit_events::Entity::insert(audit_row(audit)).exec_without_returning(&txn).await.map_err(repository_error)?;
        self.db.commit(txn).await?;
        Ok(true)
    }
}
