//! `LicenseRepository` on sea-orm: licenses, their idempotency keys and
//! once-only effects; every write with its audit event in one transaction.

use async_trait::async_trait;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait, Statement, TransactionTrait,
};
use tessera_domain::audit::AuditEvent;
use tessera_domain::license::{
    CreateLicenseError, IdempotencyKey, IdempotencyRecord, License, LicenseFilter, LicenseKey, LicenseRepository,
    LicenseStatus, UpdateLicenseError,
};
use tessera_domain::page::{Page, PageRequest};
use tessera_domain::repository::RepositoryError;

use crate::entities::{audit_events, license_effects, licenses};
use crate::errors::{repository_error, unique_violation, WriteFailure};
use crate::paging::newest_first;
use crate::rows::{audit_row, contains_ignoring_case, corrupt, license_from_row, license_row, timestamp};
use crate::writes::update_license_in;
use crate::SeaOrmStore;

fn status_condition(status: LicenseStatus, now: i64) -> Condition {
    use licenses::Column;
    let not_expired = Condition::any().add(Column::ExpiresAt.is_null()).add(Column::ExpiresAt.gt(now));
    match status {
        LicenseStatus::Active => Condition::all().add(Column::State.eq("active")).add(not_expired),
        LicenseStatus::Expired => Condition::all().add(Column::State.eq("active")).add(Column::ExpiresAt.lte(now)),
        LicenseStatus::Suspended => Condition::all().add(Column::State.eq("suspended")),
        LicenseStatus::Revoked => Condition::all().add(Column::State.eq("revoked")),
    }
}

#[async_trait]
impl LicenseRepository for SeaOrmStore {
    async fn create(
        &self,
        license: &License,
        idempotency: Option<&IdempotencyRecord>,
        audit: &AuditEvent,
    ) -> Result<(), CreateLicenseError> {
        let txn = self.db.writer.begin().await.map_err(repository_error)?;
        let txn = insert_license(txn, license, idempotency, audit).await?;
        self.db.commit(txn).await?;
        Ok(())
    }

    async fn create_many(&self, licenses: &[License], audits: &[AuditEvent]) -> Result<(), CreateLicenseError> {
        if licenses.is_empty() {
            return Ok(());
        }
        let txn = self.db.writer.begin().await.map_err(repository_error)?;
        // Chunks keep each statement under both databases' bound-parameter limits.
        for chunk in licenses.chunks(500) {
            let rows = chunk.iter().map(|license| license_row(license, None).into_active_model());
            if let Err(error) = licenses::Entity::insert_many(rows).exec_without_returning(&txn).await {
                let _ = txn.rollback().await;
                return Err(match unique_violation(&error) {
                    Some(_) => {
                        let taken =
                            self.existing_keys(&chunk.iter().map(|l| l.key.clone()).collect::<Vec<_>>()).await?;
                        let key = taken.into_iter().next().unwrap_or_else(|| chunk[0].key.clone());
                        CreateLicenseError::KeyTaken(key)
                    }
                    None => repository_error(error).into(),
                });
            }
        }
        crate::writes::ensure_customers(&txn, licenses).await?;
        for chunk in audits.chunks(1000) {
            audit_events::Entity::insert_many(chunk.iter().map(audit_row))
                .exec_without_returning(&txn)
                .await
                .map_err(repository_error)?;
        }
        self.db.commit(txn).await?;
        Ok(())
    }

    async fn existing_keys(&self, keys: &[LicenseKey]) -> Result<Vec<LicenseKey>, RepositoryError> {
        let mut found = Vec::new();
        for chunk in keys.chunks(500) {
            let rows = licenses::Entity::find()
                .select_only()
                .column(licenses::Column::Key)
                .filter(licenses::Column::Key.is_in(chunk.iter().map(LicenseKey::as_str)))
                .into_tuple::<String>()
                .all(&self.db.writer)
                .await
                .map_err(repository_error)?;
            for key in rows {
                found.push(LicenseKey::parse(&key).map_err(|error| corrupt("license key", error))?);
            }
        }
        Ok(found)
    }

    async fn find_by_key(&self, key: &LicenseKey) -> Result<Option<License>, RepositoryError> {
        if let Some(inline) = &self.db.inline {
            return inline.license_where(licenses::Column::Key, key.as_str())?.map(license_from_row).transpose();
        }
        licenses::Entity::find()
            .filter(licenses::Column::Key.eq(key.as_str()))
            .one(&self.db.reader)
            .await
            .map_err(repository_error)?
            .map(license_from_row)
            .transpose()
    }

    async fn find_by_idempotency_key(
        &self,
        key: &IdempotencyKey,
    ) -> Result<Option<(License, IdempotencyRecord)>, RepositoryError> {
        let found = match &self.db.inline {
            Some(inline) => inline.license_where(licenses::Column::IdempotencyKey, key.as_str())?,
            None => licenses::Entity::find()
                .filter(licenses::Column::IdempotencyKey.eq(key.as_str()))
                .one(&self.db.reader)
                .await
                .map_err(repository_error)?,
        };
        let Some(row) = found else {
            return Ok(None);
        };
        let record =
            IdempotencyRecord { key: key.clone(), request: row.idempotency_request.clone().unwrap_or_default() };
        Ok(Some((license_from_row(row)?, record)))
    }

    async fn list(&self, filter: &LicenseFilter, page: &PageRequest) -> Result<Page<License>, RepositoryError> {
        use licenses::Column;
        let mut query = licenses::Entity::find();
        if let Some(email) = &filter.email {
            query = query.filter(Column::Email.eq(email.as_str()));
        }
        if let Some(product) = &filter.product {
            query = query.filter(Column::Product.eq(product.as_str()));
        }
        if let Some(source) = &filter.source {
            query = query.filter(Column::Source.eq(source.as_str()));
        }
        if let Some(before) = filter.expires_before {
            query = query
                .filter(status_condition(LicenseStatus::Active, timestamp(filter.now)))
                .filter(Column::ExpiresAt.lte(timestamp(before)));
        }
        if let Some(status) = filter.status {
            query = query.filter(status_condition(status, timestamp(filter.now)));
        }
        if let Some(text) = &filter.query {
            let backend = self.db.reader.get_database_backend();
            query = query.filter(
                Condition::any()
                    .add(contains_ignoring_case(backend, Column::Key, text))
                    .add(contains_ignoring_case(backend, Column::Name, text))
                    .add(contains_ignoring_case(backend, Column::Email, text)),
            );
            if backend == sea_orm::DbBackend::Sqlite {
                // A substring matches no index: find the page's ids by scanning
                // `ix_licenses_search` (id, key, name, email; a tenth of a row's
                // bytes) newest first, stopping at a page, then read those rows.
                let mut ids = query.select_only().column(Column::Id);
                if let Some(after) = &page.after {
                    ids = ids.filter(Column::Id.lt(after.as_str()));
                }
                let ids = ids.order_by_desc(Column::Id).limit(u64::from(page.limit) + 1).into_query();
                query = licenses::Entity::find().filter(Column::Id.in_subquery(ids));
            }
        }
        newest_first(query, Column::Id, page, &self.db.reader, license_from_row, |item| item.id.to_string()).await
    }

    async fn update(
        &self,
        license: &License,
        expected_version: i64,
        audit: &AuditEvent,
    ) -> Result<(), UpdateLicenseError> {
        let txn = self.db.writer.begin().await.map_err(repository_error)?;
        if let Err(error) = update_license_in(&txn, license, expected_version, audit).await {
            let _ = txn.rollback().await;
            return Err(error);
        }
        self.db.commit(txn).await?;
        Ok(())
    }

    async fn update_once(
        &self,
        license: &License,
        expected_version: i64,
        effect: &str,
        audit: &AuditEvent,
    ) -> Result<(), UpdateLicenseError> {
        let txn = self.db.writer.begin().await.map_err(repository_error)?;
        let effect_row = license_effects::Model {
            effect: effect.to_owned(),
            license_id: license.id.to_string(),
            applied_at: timestamp(license.updated_at),
        };
        // The primary key on `effect` decides, also between concurrent transactions.
        let claimed =
            license_effects::Entity::insert(effect_row.into_active_model()).exec_without_returning(&txn).await;
        let result = match claimed {
            Err(error) if unique_violation(&error).is_some() => Err(UpdateLicenseError::AlreadyApplied),
            Err(error) => Err(repository_error(error).into()),
            Ok(_) => update_license_in(&txn, license, expected_version, audit).await,
        };
        if let Err(error) = result {
            let _ = txn.rollback().await;
            return Err(error);
        }
        self.db.commit(txn).await?;
        Ok(())
    }

    async fn find_by_subscription(
        &self,
        source: &str,
        subscription_id: &str,
    ) -> Result<Option<License>, RepositoryError> {
        licenses::Entity::find()
            .filter(licenses::Column::Source.eq(source))
            .filter(licenses::Column::SubscriptionId.eq(subscription_id))
            .one(&self.db.reader)
            .await
            .map_err(repository_error)?
            .map(license_from_row)
            .transpose()
    }

    async fn ping(&self) -> Result<(), RepositoryError> {
        let backend = self.db.reader.get_database_backend();
        self.db
            .reader
            .execute_raw(Statement::from_string(backend, "SELECT 1"))
            .await
            .map(drop)
            .map_err(repository_error)
    }
}

/// Inserts a new license, its customer and its audit event in `txn`, mapping a
/// unique index that fires to the error `create` returns (the transaction is
/// rolled back then). Returns the transaction, for the caller to add to and
/// commit through `Database::commit`.
/// What a failed insert of `license` means: a key, idempotency key or
/// subscription already taken, or a storage failure.
pub(crate) fn create_error(error: impl WriteFailure, license: &License) -> CreateLicenseError {
    match error.unique_violation() {
        Some(index) if index.contains("idempotency_key") => CreateLicenseError::IdempotencyKeyTaken,
        Some(index) if index.contains("subscription") => CreateLicenseError::SubscriptionTaken,
        Some(index) if index.contains("licenses.key") || index.contains("ux_licenses_key") => {
            CreateLicenseError::KeyTaken(license.key.clone())
        }
        _ => error.into_repository_error().into(),
    }
}

pub(crate) async fn insert_license(
    txn: sea_orm::DatabaseTransaction,
    license: &License,
    idempotency: Option<&IdempotencyRecord>,
    audit: &AuditEvent,
) -> Result<sea_orm::DatabaseTransaction, CreateLicenseError> {
    let inserted = licenses::Entity::insert(license_row(license, idempotency).into_active_model())
        .exec_without_returning(&txn)
        .await;
    if let Err(error) = inserted {
        let _ = txn.rollback().await;
        return Err(create_error(error, license));
    }
    crate::writes::ensure_customers(&txn, std::slice::from_ref(license)).await?;
    audit_events::Entity::insert(audit_row(audit)).exec_without_returning(&txn).await.map_err(repository_error)?;
    Ok(txn)
}
