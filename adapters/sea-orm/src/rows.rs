//! Row conversions and small SQL helpers every port of the store shares:
//! timestamps, corrupt-row errors, the license and audit rows, case-insensitive
//! search.

use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
use sea_orm::IntoActiveModel;
use tessera_domain::audit::{Actor, AuditEvent};
use tessera_domain::license::{CustomerName, EmailAddress, IdempotencyRecord, License, LicenseKey, Subscription};
use tessera_domain::repository::RepositoryError;
use time::OffsetDateTime;

use crate::entities::{audit_events, licenses};

pub(crate) fn timestamp(at: OffsetDateTime) -> i64 {
    at.unix_timestamp()
}

pub(crate) fn corrupt(what: &str, detail: impl std::fmt::Display) -> RepositoryError {
    RepositoryError::unexpected(format!("corrupt row: {what}: {detail}"))
}

pub(crate) fn from_timestamp(seconds: i64) -> Result<OffsetDateTime, RepositoryError> {
    OffsetDateTime::from_unix_timestamp(seconds).map_err(|error| corrupt("timestamp", error))
}

pub(crate) fn license_row(license: &License, idempotency: Option<&IdempotencyRecord>) -> licenses::Model {
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

pub(crate) fn license_from_row(row: licenses::Model) -> Result<License, RepositoryError> {
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

pub(crate) fn audit_from_row(row: audit_events::Model) -> Result<AuditEvent, RepositoryError> {
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
    backend: sea_orm::DatabaseBackend,
    column: impl sea_orm::sea_query::IntoColumnRef,
    text: &str,
) -> sea_orm::sea_query::SimpleExpr {
    let escaped = text.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    let pattern = LikeExpr::new(format!("%{escaped}%")).escape('\\');
    match backend {
        // SQLite's LIKE already ignores ASCII case (and its LOWER() knows no
        // other): without LOWER() a search reads half as much per row.
        sea_orm::DatabaseBackend::Sqlite => Expr::col(column).like(pattern),
        _ => Expr::expr(Func::lower(Expr::col(column))).like(pattern),
    }
}
