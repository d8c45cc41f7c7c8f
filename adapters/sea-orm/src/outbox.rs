//! The email outbox on sea-orm. Claims are conditional updates on the row's
//! status and attempt count, so two workers — in one process or many, on
//! SQLite or Postgres — never both win the same attempt.

use async_trait::async_trait;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, QueryTrait, TransactionTrait,
};
use tessera_domain::audit::AuditEvent;
use tessera_domain::license::{CreateLicenseError, EmailAddress, IdempotencyRecord, License, LicenseKey};
use tessera_domain::mail::{Delivery, DeliveryFilter, DeliveryOutcome, DeliveryRepository, DeliveryStatus, Enqueued};
use tessera_domain::page::{Page, PageRequest};
use tessera_domain::repository::RepositoryError;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::entities::{audit_events, deliveries};
use crate::errors::{repository_error, unique_violation};
use crate::paging::newest_first;
use crate::rows::{audit_row, corrupt, from_timestamp, timestamp};
use crate::SeaOrmStore;

use deliveries::Column;

fn to_row(delivery: &Delivery) -> deliveries::Model {
    deliveries::Model {
        id: delivery.id.to_string(),
        kind: delivery.kind.to_string(),
        license_key: delivery.license_key.as_ref().map(|key| key.to_string()),
        to_address: delivery.to.as_str().to_owned(),
        status: delivery.status.to_string(),
        attempts: i32::try_from(delivery.attempts).unwrap_or(i32::MAX),
        next_attempt_at: timestamp(delivery.next_attempt_at),
        last_error: delivery.last_error.clone(),
        provider_message_id: delivery.provider_message_id.clone(),
        dedupe_key: delivery.dedupe_key.clone(),
        created_at: timestamp(delivery.created_at),
        updated_at: timestamp(delivery.updated_at),
        sent_at: delivery.sent_at.map(timestamp),
        claimed_until: delivery.claimed_until.map(timestamp),
    }
}

fn from_row(row: deliveries::Model) -> Result<Delivery, RepositoryError> {
    Ok(Delivery {
        id: row.id.parse().map_err(|error| corrupt("delivery id", error))?,
        kind: row.kind.parse().map_err(|error| corrupt("delivery kind", error))?,
        license_key: row
            .license_key
            .map(|key| LicenseKey::parse(&key).map_err(|error| corrupt("license key", error)))
            .transpose()?,
        to: EmailAddress::parse(&row.to_address).map_err(|error| corrupt("delivery address", error))?,
        status: row.status.parse().map_err(|error| corrupt("delivery status", error))?,
        attempts: u32::try_from(row.attempts).map_err(|error| corrupt("attempts", error))?,
        next_attempt_at: from_timestamp(row.next_attempt_at)?,
        last_error: row.last_error,
        provider_message_id: row.provider_message_id,
        dedupe_key: row.dedupe_key,
        created_at: from_timestamp(row.created_at)?,
        updated_at: from_timestamp(row.updated_at)?,
        sent_at: row.sent_at.map(from_timestamp).transpose()?,
        claimed_until: row.claimed_until.map(from_timestamp).transpose()?,
    })
}

/// `id` among the rows `due` selects, picked once. Postgres may plan
/// `id IN (subquery)` as a join that runs the subquery again for each row it
/// updates, and a rerun skips the rows this very statement already locked and
/// picks more — a `LIMIT 1` claim updated two rows. `id = ANY(ARRAY(…))` is
/// evaluated once, before the update. SQLite evaluates `IN (…)` once.
fn due_ids(backend: sea_orm::DbBackend, due: sea_orm::sea_query::SelectStatement) -> Expr {
    use sea_orm::sea_query::{extension::postgres::PgFunc, Func};
    if backend == sea_orm::DbBackend::Postgres {
        let picked = Func::cust("ARRAY").arg(Expr::SubQuery(None, Box::new(due.into())));
        Expr::col(Column::Id).eq(PgFunc::any(picked))
    } else {
        Expr::col(Column::Id).in_subquery(due)
    }
}

/// Keeps provider error texts to a storable size.
fn clip(text: &Option<String>) -> Option<String> {
    text.as_ref().map(|text| text.chars().take(2000).collect())
}

/// A new license and its first email.
pub(crate) struct NewLicense<'a> {
    pub license: &'a License,
    pub idempotency: Option<&'a IdempotencyRecord>,
    pub license_audit: &'a AuditEvent,
    pub delivery: &'a Delivery,
    pub delivery_audit: &'a AuditEvent,
}

impl SeaOrmStore {
    /// Stores `new` and, in the same transaction, `also` — an update (the
    /// outcome of the storefront event that sold it) and its audit event.
    pub(crate) async fn store_new_license(
        &self,
        new: &NewLicense<'_>,
        also: Option<(sea_orm::UpdateMany<crate::entities::storefront_events::Entity>, &AuditEvent)>,
    ) -> Result<(), CreateLicenseError> {
        let NewLicense { license, idempotency, license_audit, delivery, delivery_audit } = *new;
        let (update, update_audit) = also.unzip();
        // The audit events stored beside the license's own.
        let audits: Vec<_> = [Some(delivery_audit), update_audit].into_iter().flatten().map(audit_row).collect();
        if self.db.backend() == sea_orm::DbBackend::Sqlite {
            // The one writer bounds a sale: its inserts (and update) go to it
            // as one transaction, committed with the ones queued beside it.
            use crate::sqlite_writes::WriteStatement;
            let mut statements = vec![WriteStatement::of(
                crate::entities::licenses::Entity::insert(
                    crate::rows::license_row(license, idempotency).into_active_model(),
                )
                .as_query(),
            )];
            statements.extend(crate::writes::customer_inserts(std::slice::from_ref(license)));
            statements
                .push(WriteStatement::of(deliveries::Entity::insert(to_row(delivery).into_active_model()).as_query()));
            statements.extend(update.map(|update| WriteStatement::of(update.as_query())));
            let all_audits = std::iter::once(audit_row(license_audit)).chain(audits);
            statements.push(WriteStatement::of(audit_events::Entity::insert_many(all_audits).as_query()));
            self.db
                .sqlite_transaction(statements)
                .await
                .map_err(|error| crate::license_repository::create_error(error, license))?;
            self.db.synced().await?;
            return Ok(());
        }
        let txn = self.db.writer.begin().await.map_err(repository_error)?;
        let txn = crate::license_repository::insert_license(txn, license, idempotency, license_audit).await?;
        deliveries::Entity::insert(to_row(delivery).into_active_model())
            .exec_without_returning(&txn)
            .await
            .map_err(repository_error)?;
        if let Some(update) = update {
            update.exec(&txn).await.map_err(repository_error)?;
        }
        audit_events::Entity::insert_many(audits).exec_without_returning(&txn).await.map_err(repository_error)?;
        self.db.commit(txn).await?;
        Ok(())
    }
}

#[async_trait]
impl DeliveryRepository for SeaOrmStore {
    async fn create_license_with_delivery(
        &self,
        license: &License,
        idempotency: Option<&IdempotencyRecord>,
        license_audit: &AuditEvent,
        delivery: &Delivery,
        delivery_audit: &AuditEvent,
    ) -> Result<(), CreateLicenseError> {
        let new = NewLicense { license, idempotency, license_audit, delivery, delivery_audit };
        self.store_new_license(&new, None).await
    }

    async fn enqueue(&self, delivery: &Delivery, audit: &AuditEvent) -> Result<Enqueued, RepositoryError> {
        let txn = self.db.writer.begin().await.map_err(repository_error)?;
        let inserted =
            deliveries::Entity::insert(to_row(delivery).into_active_model()).exec_without_returning(&txn).await;
        match inserted {
            Ok(_) => {}
            Err(error) if unique_violation(&error).is_some() && delivery.dedupe_key.is_some() => {
                let _ = txn.rollback().await;
                let existing = deliveries::Entity::find()
                    .filter(Column::DedupeKey.eq(delivery.dedupe_key.clone()))
                    .one(&self.db.writer)
                    .await
                    .map_err(repository_error)?
                    .ok_or_else(|| RepositoryError::unexpected("a dedupe key violated, then not found"))?;
                return Ok(Enqueued::Existing(from_row(existing)?));
            }
            Err(error) => {
                let _ = txn.rollback().await;
                return Err(repository_error(error));
            }
        }
        audit_events::Entity::insert(audit_row(audit)).exec_without_returning(&txn).await.map_err(repository_error)?;
        self.db.commit(txn).await?;
        Ok(Enqueued::New(delivery.clone()))
    }

    async fn claim_due(
        &self,
        now: OffsetDateTime,
        until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<Delivery>, RepositoryError> {
        // One statement claims the batch: the due rows, oldest first, move to
        // `sending` with their attempt counted, and come back as they now are.
        // The outer `status = pending` re-check makes a row that another
        // worker claimed meanwhile drop out (Postgres re-evaluates it after
        // waiting for that worker's lock; `SKIP LOCKED` spares the wait, and
        // SQLite has one writer).
        let due = deliveries::Entity::find()
            .select_only()
            .column(Column::Id)
            .filter(Column::Status.eq(DeliveryStatus::Pending.as_str()))
            .filter(Column::NextAttemptAt.lte(timestamp(now)))
            .order_by_asc(Column::NextAttemptAt)
            .order_by_asc(Column::Id)
            .limit(u64::from(limit))
            .lock_with_behavior(sea_orm::sea_query::LockType::Update, sea_orm::sea_query::LockBehavior::SkipLocked)
            .as_query()
            .to_owned();
        let rows = deliveries::Entity::update_many()
            .col_expr(Column::Status, Expr::value(DeliveryStatus::Sending.as_str()))
            .col_expr(Column::Attempts, Expr::col(Column::Attempts).add(1))
            .col_expr(Column::ClaimedUntil, Expr::value(timestamp(until)))
            .col_expr(Column::UpdatedAt, Expr::value(timestamp(now)))
            .filter(due_ids(self.db.backend(), due))
            .filter(Column::Status.eq(DeliveryStatus::Pending.as_str()))
            .exec_with_returning(&self.db.writer)
            .await
            .map_err(repository_error)?;
        // A claim is on disk before the email goes out: a power loss never
        // leads to sending the same attempt twice.
        if !rows.is_empty() {
            self.db.synced().await?;
        }
        let mut claimed = rows.into_iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
        // RETURNING gives no order: send the oldest due first.
        claimed.sort_by_key(|delivery| (delivery.next_attempt_at, delivery.id));
        Ok(claimed)
    }

    async fn settle(
        &self,
        id: Uuid,
        attempt: u32,
        outcome: &DeliveryOutcome,
        audit: &AuditEvent,
    ) -> Result<bool, RepositoryError> {
        let mut update = deliveries::Entity::update_many()
            .col_expr(Column::Status, Expr::value(outcome.status.as_str()))
            .col_expr(Column::NextAttemptAt, Expr::value(timestamp(outcome.next_attempt_at)))
            .col_expr(Column::LastError, Expr::value(clip(&outcome.last_error)))
            .col_expr(Column::UpdatedAt, Expr::value(timestamp(outcome.at)))
            .col_expr(Column::ClaimedUntil, Expr::value(Option::<i64>::None));
        if outcome.provider_message_id.is_some() {
            update = update.col_expr(Column::ProviderMessageId, Expr::value(outcome.provider_message_id.clone()));
        }
        if outcome.status == DeliveryStatus::Sent {
            update = update.col_expr(Column::SentAt, Expr::value(timestamp(outcome.at)));
        }
        let update = update
            .filter(Column::Id.eq(id.to_string()))
            .filter(Column::Status.eq(DeliveryStatus::Sending.as_str()))
            .filter(Column::Attempts.eq(i32::try_from(attempt).unwrap_or(i32::MAX)));
        crate::writes::update_with_audit(&self.db, update, audit).await
    }

    async fn fail_abandoned(&self, now: OffsetDateTime, error: &str) -> Result<Vec<Delivery>, RepositoryError> {
        let lapsed = deliveries::Entity::find()
            .filter(Column::Status.eq(DeliveryStatus::Sending.as_str()))
            .filter(Column::ClaimedUntil.lt(timestamp(now)))
            .all(&self.db.reader)
            .await
            .map_err(repository_error)?;
        let mut failed = Vec::new();
        for row in lapsed {
            let updated = deliveries::Entity::update_many()
                .col_expr(Column::Status, Expr::value(DeliveryStatus::Failed.as_str()))
                .col_expr(Column::LastError, Expr::value(error))
                .col_expr(Column::ClaimedUntil, Expr::value(Option::<i64>::None))
                .col_expr(Column::UpdatedAt, Expr::value(timestamp(now)))
                .filter(Column::Id.eq(row.id.as_str()))
                .filter(Column::Status.eq(DeliveryStatus::Sending.as_str()))
                .filter(Column::Attempts.eq(row.attempts))
                .exec(&self.db.writer)
                .await
                .map_err(repository_error)?;
            if updated.rows_affected == 1 {
                failed.push(from_row(row)?);
            }
        }
        if !failed.is_empty() {
            self.db.synced().await?;
        }
        Ok(failed)
    }

    async fn reschedule(
        &self,
        id: Uuid,
        expected: DeliveryStatus,
        now: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<bool, RepositoryError> {
        let update = deliveries::Entity::update_many()
            .col_expr(Column::Status, Expr::value(DeliveryStatus::Pending.as_str()))
            .col_expr(Column::NextAttemptAt, Expr::value(timestamp(now)))
            .col_expr(Column::UpdatedAt, Expr::value(timestamp(now)))
            .filter(Column::Id.eq(id.to_string()))
            .filter(Column::Status.eq(expected.as_str()));
        crate::writes::update_with_audit(&self.db, update, audit).await
    }

    async fn find_delivery(&self, id: Uuid) -> Result<Option<Delivery>, RepositoryError> {
        deliveries::Entity::find_by_id(id.to_string())
            .one(&self.db.reader)
            .await
            .map_err(repository_error)?
            .map(from_row)
            .transpose()
    }

    async fn list_deliveries(
        &self,
        filter: &DeliveryFilter,
        page: &PageRequest,
    ) -> Result<Page<Delivery>, RepositoryError> {
        let mut query = deliveries::Entity::find();
        if let Some(status) = filter.status {
            query = query.filter(Column::Status.eq(status.as_str()));
        }
        if let Some(key) = &filter.license_key {
            query = query.filter(Column::LicenseKey.eq(key.as_str()));
        }
        newest_first(query, Column::Id, page, &self.db.reader, from_row, |item| item.id.to_string()).await
    }
}
