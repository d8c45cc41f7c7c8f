//! `/admin/v1/audit`: who changed what.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::types::Any;
use poem_openapi::{Object, OpenApi, Tags};
use tessera_domain::audit::{AuditEvent, AuditFilter};
use tessera_domain::page::PageRequest;
use time::OffsetDateTime;

use super::auth::AdminAuth;
use super::page::Page;
use crate::http::errors::{invalid_cursor, ReadFailure};
use crate::state::AppState;

#[derive(Tags)]
enum AuditTags {
    /// The audit trail of every state change.
    Audit,
}

#[derive(Debug, Clone, Object)]
pub struct AuditEventBody {
    pub id: String,
    pub at: OffsetDateTime,
    /// `admin`, `storefront:<name>`, `buyer` or `system`.
    pub actor: String,
    /// `license.minted`, `license.revoked`, …
    pub action: String,
    pub entity_type: String,
    pub entity_id: String,
    pub details: Any<serde_json::Value>,
}

impl From<AuditEvent> for AuditEventBody {
    fn from(event: AuditEvent) -> Self {
        Self {
            id: event.id.to_string(),
            at: event.at,
            actor: event.actor.to_string(),
            action: event.action,
            entity_type: event.entity_type,
            entity_id: event.entity_id,
            details: Any(event.details),
        }
    }
}

#[derive(Default)]
pub struct AuditApi;

#[OpenApi(tag = "AuditTags::Audit")]
impl AuditApi {
    /// Audit events, newest first.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/admin/v1/audit", method = "get", operation_id = "listAudit")]
    async fn list(
        &self,
        state: Data<&Arc<AppState>>,
        _auth: AdminAuth,
        /// e.g. `license`
        entity_type: Query<Option<String>>,
        /// e.g. a license key
        entity_id: Query<Option<String>>,
        actor: Query<Option<String>>,
        action: Query<Option<String>>,
        /// Only events at or after this time (RFC 3339).
        since: Query<Option<OffsetDateTime>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "500")))] limit: Query<Option<u32>>,
        cursor: Query<Option<String>>,
    ) -> Result<Json<Page<AuditEventBody>>, ReadFailure> {
        if let Some(body) = invalid_cursor(cursor.0.as_deref()) {
            return Err(ReadFailure::BadRequest(body));
        }
        let filter = AuditFilter {
            entity_type: entity_type.0,
            entity_id: entity_id.0,
            actor: actor.0,
            action: action.0,
            since: since.0,
            until: None,
        };
        let page = state.reports.audit(&filter, &PageRequest::new(limit.0, cursor.0)).await?;
        Ok(Json(Page { items: page.items.into_iter().map(Into::into).collect(), next_cursor: page.next_cursor }))
    }
}
