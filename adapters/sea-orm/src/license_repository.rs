use async_trait::async_trait;
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QuerySelect,
    Statement, TransactionTrait,
};
use tessera_domain::audit::{Actor, AuditEvent, AuditFilter, AuditLog};
use tessera_domain::license::{
    CreateLicenseError, CustomerName, EmailAddress, IdempotencyKey, IdempotencyRecord, License, LicenseFilter,
    LicenseKey, LicenseRepository, LicenseStatus, Subscription, UpdateLicenseError,
};
use tessera_domain::page::{Page, PageRequest};
use tessera_domain::repository::RepositoryError;
use time::OffsetDateTime;

use crate::entities::{audit_events, license_effects, licenses};
use crate::errors::{repository_error, unique_violation};
use crate::paging::newest_first;
use crate::Database;

/// The license store on sea-orm, for SQLite and Postgres alike.
#[derive(Debug, Clone)]
pub struct SeaOrmLicenseRepository {
    pub(crate) db: Database,
}

impl SeaOrmLicenseRepository {
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

pub(crate) fn timestamp(at: OffsetDateTime) -> i64 {
    at.unix_timestamp()
}

pub(crate) fn corrupt(what: &str, detail: impl std::fmt::Display) -> RepositoryError {
    RepositoryError::unexpected(format!("corrupt row: {what}: {detail}"))
}

pub(crate) fn from_timestamp(seconds: i64) -> Result<OffsetDateTime, RepositoryError> {
    OffsetDateTime::from_unix_timestamp(seconds).map_err(|error| corrupt("timestamp", error))
}

fn to_row(license: &License, idempotency: Option<&IdempotencyRecord>) -> licenses::Model {
    licenses::Model {
        id: license.id.to_string(),
        key: license.key.to_string(),
        product: license.product.clone(),
        tier: license.tier.clone(),
        features: serde_json::to_string(&license.features).expect("a list of strings serializes"),
        seats: license.seats as i32,
        kind: license.kind.to_string(),
        name: license.name.as_str().to_owned(),
        email: license.email.as_str().to_owned(),
        state: license.state.to_string(),
        issued_at: timestamp(license.issued_at),
        expires_at: license.expires_at.map(timestamp),
        source: license.source.clone(),
        source_ref: license.source_ref.clone(),
        notes: license.notes.clone(),
        revoke_reason: license.revoke_reason.clone(),
        app_versions: license
            .app_versions
            .as_ref()
            .map(|versions| serde_json::to_string(versions).expect("numbers serialize")),
        token: license.token.clone(),
        idempotency_key: idempotency.map(|record| record.key.as_str().to_owned()),
        idempotency_request: idempotency.map(|record| record.request.clone()),
        updated_at: timestamp(license.updated_at),
        version: license.version,
        seats_used: 0,
        subscription_id: license.subscription.as_ref().map(|subscription| subscription.id.clone()),
        subscription_renewing: license.subscription.as_ref().map(|subscription| subscription.renewing),
    }
}

pub(crate) fn from_row(row: licenses::Model) -> Result<License, RepositoryError> {
    Ok(License {
        id: row.id.parse().map_err(|error| corrupt("license id", error))?,
        key: LicenseKey::parse(&row.key).map_err(|error| corrupt("license key", error))?,
        product: row.product,
        tier: row.tier,
        features: serde_json::from_str(&row.features).map_err(|error| corrupt("features", error))?,
        seats: u32::try_from(row.seats).map_err(|error| corrupt("seats", error))?,
        kind: row.kind.parse().map_err(|error| corrupt("kind", error))?,
        name: CustomerName::parse(&row.name).map_err(|error| corrupt("name", error))?,
        email: EmailAddress::parse(&row.email).map_err(|error| corrupt("email", error))?,
        state: row.state.parse().map_err(|error| corrupt("state", error))?,
        issued_at: from_timestamp(row.issued_at)?,
        expires_at: row.expires_at.map(from_timestamp).transpose()?,
        source: row.source,
        source_ref: row.source_ref,
        notes: row.notes,
        revoke_reason: row.revoke_reason,
        app_versions: row
            .app_versions
            .map(|text| serde_json::from_str(&text).map_err(|error| corrupt("app_versions", error)))
            .transpose()?,
        subscription: row
            .subscription_id
            .map(|id| Subscription { id, renewing: row.subscription_renewing.unwrap_or(true) }),
        token: row.token,
        updated_at: from_timestamp(row.updated_at)?,
        version: row.version,
    })
}

pub(crate) fn audit_row(event: &AuditEvent) -> audit_events::ActiveModel {
    audit_events::Model {
        id: event.id.to_string(),
        at: timestamp(event.at),
        actor: event.actor.to_string(),
        action: event.action.clone(),
        entity_type: event.entity_type.clone(),
        entity_id: event.entity_id.clone(),
        details: event.details.to_string(),
    }
    .into_active_model()
}

fn audit_from_row(row: audit_events::Model) -> Result<AuditEvent, RepositoryError> {
    Ok(AuditEvent {
        id: row.id.parse().map_err(|error| corrupt("audit id", error))?,
        at: from_timestamp(row.at)?,
        actor: Actor::parse(&row.actor).ok_or_else(|| corrupt("actor", &row.actor))?,
        action: row.action,
        entity_type: row.entity_type,
        entity_id: row.entity_id,
        details: serde_json::from_str(&row.details).map_err(|error| corrupt("audit details", error))?,
    })
}

/// `column LIKE %text%`, case-insensitive on both databases (SQLite's LIKE
/// ignores ASCII case, Postgres' does not), with `%` and `_` taken literally.
pub(crate) fn contains_ignoring_case(
    column: impl sea_orm::sea_query::IntoColumnRef,
    text: &str,
) -> sea_orm::sea_query::SimpleExpr {
    let escaped = text.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    Expr::expr(Func::lower(Expr::col(column))).like(LikeExpr::new(format!("%{escaped}%")).escape('\\'))
}

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
impl LicenseRepository for SeaOrmLicenseRepository {
    async fn create(
        &self,
        license: &License,
        idempotency: Option<&IdempotencyRecord>,
        audit: &AuditEvent,
    ) -> Result<(), CreateLicenseError> {
        let txn = self.db.writer.begin().await.map_err(repository_error)?;
        let inserted = licenses::Entity::insert(to_row(license, idempotency).into_active_model())
            .exec_without_returning(&txn)
            .await;
        if let Err(error) = inserted {
            let _ = txn.rollback().await;
            return Err(match unique_violation(&error) {
                Some(index) if index.contains("idempotency_key") => CreateLicenseError::IdempotencyKeyTaken,
                Some(index) if index.contains("subscription") => CreateLicenseError::SubscriptionTaken,
                Some(index) if index.contains("licenses.key") || index.contains("ux_licenses_key") => {
                    CreateLicenseError::KeyTaken(license.key.clone())
                }
                _ => repository_error(error).into(),
            });
        }
        crate::customers::ensure_customers(&txn, std::slice::from_ref(license)).await?;
        audit_events::Entity::insert(audit_row(audit)).exec_without_returning(&txn).await.map_err(repository_error)?;
        txn.commit().await.map_err(repository_error)?;
        Ok(())
    }

    async fn create_many(&self, licenses: &[License], audits: &[AuditEvent]) -> Result<(), CreateLicenseError> {
        if licenses.is_empty() {
            return Ok(());
        }
        let txn = self.db.writer.begin().await.map_err(repository_error)?;
        // Chunks keep each statement under both databases' bound-parameter limits.
        for chunk in licenses.chunks(500) {
            let rows = chunk.iter().map(|license| to_row(license, None).into_active_model());
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
        crate::customers::ensure_customers(&txn, licenses).await?;
        for chunk in audits.chunks(1000) {
            audit_events::Entity::insert_many(chunk.iter().map(audit_row))
                .exec_without_returning(&txn)
                .await
                .map_err(repository_error)?;
        }
        txn.commit().await.map_err(repository_error)?;
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
        licenses::Entity::find()
            .filter(licenses::Column::Key.eq(key.as_str()))
            .one(&self.db.reader)
            .await
            .map_err(repository_error)?
            .map(from_row)
            .transpose()
    }

    async fn find_by_idempotency_key(
        &self,
        key: &IdempotencyKey,
    ) -> Result<Option<(License, IdempotencyRecord)>, RepositoryError> {
        let Some(row) = licenses::Entity::find()
            .filter(licenses::Column::IdempotencyKey.eq(key.as_str()))
            .one(&self.db.reader)
            .await
            .map_err(repository_error)?
        else {
            return Ok(None);
        };
        let record =
            IdempotencyRecord { key: key.clone(), request: row.idempotency_request.clone().unwrap_or_default() };
        Ok(Some((from_row(row)?, record)))
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
        if let Some(status) = filter.status {
            query = query.filter(status_condition(status, timestamp(filter.now)));
        }
        if let Some(text) = &filter.query {
            query = query.filter(
                Condition::any()
                    .add(contains_ignoring_case(Column::Key, text))
                    .add(contains_ignoring_case(Column::Name, text))
                    .add(contains_ignoring_case(Column::Email, text)),
            );
        }
        newest_first(query, Column::Id, page, &self.db.reader, from_row, |item| item.id.to_string()).await
    }

    async fn update(
        &self,
        license: &License,
        expected_version: i64,
        audit: &AuditEvent,
    ) -> Result<(), UpdateLicenseError> {
        let txn = self.db.writer.begin().await.map_err(repository_error)?;
        if let Err(error) = update_in(&txn, license, expected_version, audit).await {
            let _ = txn.rollback().await;
            return Err(error);
        }
        txn.commit().await.map_err(repository_error)?;
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
            Ok(_) => update_in(&txn, license, expected_version, audit).await,
        };
        if let Err(error) = result {
            let _ = txn.rollback().await;
            return Err(error);
        }
        txn.commit().await.map_err(repository_error)?;
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
            .map(from_row)
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

/// The conditional license update and its audit event, inside `txn`.
pub(crate) async fn update_in(
    txn: &sea_orm::DatabaseTransaction,
    license: &License,
    expected_version: i64,
    audit: &AuditEvent,
) -> Result<(), UpdateLicenseError> {
    use licenses::Column;
    let mut row = to_row(license, None).into_active_model().reset_all();
    // Never touch the idempotency record or the identity of the license.
    row.idempotency_key = sea_orm::ActiveValue::NotSet;
    row.idempotency_request = sea_orm::ActiveValue::NotSet;
    row.id = sea_orm::ActiveValue::NotSet;
    row.key = sea_orm::ActiveValue::NotSet;
    // Only the activation store counts seats.
    row.seats_used = sea_orm::ActiveValue::NotSet;
    let updated = licenses::Entity::update_many()
        .set(row)
        .filter(Column::Id.eq(license.id.to_string()))
        .filter(Column::Version.eq(expected_version))
        .exec(txn)
        .await
        .map_err(repository_error)?;
    if updated.rows_affected == 0 {
        let exists =
            licenses::Entity::find_by_id(license.id.to_string()).one(txn).await.map_err(repository_error)?.is_some();
        return Err(if exists {
            UpdateLicenseError::Conflict
        } else {
            UpdateLicenseError::NotFound(license.key.clone())
        });
    }
    audit_events::Entity::insert(audit_row(audit)).exec_without_returning(txn).await.map_err(repository_error)?;
    Ok(())
}

#[async_trait]
impl AuditLog for SeaOrmLicenseRepository {
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
        newest_first(query, Column::Id, page, &self.db.reader, audit_from_row, |item| item.id.to_string()).await
    }
}
