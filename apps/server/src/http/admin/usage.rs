//! The operator's view of what machines report: `GET /admin/v1/usage`,
//! `GET /admin/v1/flags`, `POST /admin/v1/flags/{id}/review`.

#![allow(clippy::large_enum_variant)]

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::Any;
use poem_openapi::{Enum, Object, OpenApi, Tags};
use tessera_domain::audit::Actor;
use tessera_domain::license::LicenseKey;
use tessera_domain::page::PageRequest;
use tessera_domain::usage::{Flag, FlagFilter, FlagStatus, ReviewFlagError, UsageEvent, UsageFilter};
use time::OffsetDateTime;
use uuid::Uuid;

use super::auth::AdminAuth;
use super::page::Page;
use crate::http::errors::{invalid_cursor, ChangeFailure, ErrorBody, ErrorCode, ReadFailure};
use crate::state::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum FlagStatusDto {
    Open,
    Reviewed,
    Dismissed,
    Actioned,
}

impl From<FlagStatus> for FlagStatusDto {
    fn from(status: FlagStatus) -> Self {
        match status {
            FlagStatus::Open => Self::Open,
            FlagStatus::Reviewed => Self::Reviewed,
            FlagStatus::Dismissed => Self::Dismissed,
            FlagStatus::Actioned => Self::Actioned,
        }
    }
}

impl From<FlagStatusDto> for FlagStatus {
    fn from(status: FlagStatusDto) -> Self {
        match status {
            FlagStatusDto::Open => Self::Open,
            FlagStatusDto::Reviewed => Self::Reviewed,
            FlagStatusDto::Dismissed => Self::Dismissed,
            FlagStatusDto::Actioned => Self::Actioned,
        }
    }
}

#[derive(Debug, Object)]
pub struct UsageEventBody {
    pub id: String,
    pub license_key: String,
    pub activation_id: String,
    pub event: String,
    pub metadata: Any<serde_json::Value>,
    pub at: OffsetDateTime,
}

impl From<UsageEvent> for UsageEventBody {
    fn from(event: UsageEvent) -> Self {
        Self {
            id: event.id.to_string(),
            license_key: event.license_key.to_string(),
            activation_id: event.activation_id.to_string(),
            event: event.event,
            metadata: Any(event.metadata),
            at: event.at,
        }
    }
}

#[derive(Debug, Object)]
pub struct FlagBody {
    pub id: String,
    pub license_key: String,
    pub activation_id: String,
    pub reason: String,
    #[oai(nullable)]
    pub message: Option<String>,
    pub metadata: Any<serde_json::Value>,
    pub status: FlagStatusDto,
    /// What the operator did.
    #[oai(nullable)]
    pub action: Option<String>,
    pub created_at: OffsetDateTime,
    #[oai(nullable)]
    pub reviewed_at: Option<OffsetDateTime>,
}

impl From<Flag> for FlagBody {
    fn from(flag: Flag) -> Self {
        Self {
            id: flag.id.to_string(),
            license_key: flag.license_key.to_string(),
            activation_id: flag.activation_id.to_string(),
            reason: flag.reason,
            message: flag.message,
            metadata: Any(flag.metadata),
            status: flag.status.into(),
            action: flag.action,
            created_at: flag.created_at,
            reviewed_at: flag.reviewed_at,
        }
    }
}

#[derive(Tags)]
enum AdminTags {
    /// Usage events and flags from machines.
    Usage,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct ReviewRequest {
    /// `reviewed`, `dismissed` or `actioned`.
    pub status: FlagStatusDto,
    /// What was done; required for `actioned`.
    #[oai(nullable)]
    pub action: Option<String>,
}

fn parse_license_key(text: Option<&str>) -> Result<Option<LicenseKey>, Json<ErrorBody>> {
    text.map(LicenseKey::parse).transpose().map_err(|error| ErrorBody::new(ErrorCode::InvalidKey, error.to_string()))
}

#[derive(Default)]
pub struct UsageAdminApi;

#[OpenApi(prefix_path = "/admin/v1", tag = "AdminTags::Usage")]
impl UsageAdminApi {
    /// Usage events, newest first.
    #[oai(path = "/usage", method = "get", operation_id = "listUsage")]
    #[allow(clippy::too_many_arguments)]
    async fn usage(
        &self,
        state: Data<&Arc<AppState>>,
        _auth: AdminAuth,
        license_key: Query<Option<String>>,
        event: Query<Option<String>>,
        /// RFC 3339.
        since: Query<Option<OffsetDateTime>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "500")))] limit: Query<Option<u32>>,
        cursor: Query<Option<String>>,
    ) -> Result<Json<Page<UsageEventBody>>, ReadFailure> {
        if let Some(body) = invalid_cursor(cursor.0.as_deref()) {
            return Err(ReadFailure::BadRequest(body));
        }
        let license_key = parse_license_key(license_key.0.as_deref()).map_err(ReadFailure::BadRequest)?;
        let filter = UsageFilter { license_key, event: event.0, since: since.0 };
        let page = state.usage.list_usage(&filter, &PageRequest::new(limit.0, cursor.0)).await?;
        Ok(Json(Page { items: page.items.into_iter().map(Into::into).collect(), next_cursor: page.next_cursor }))
    }

    /// Flags, newest first.
    #[oai(path = "/flags", method = "get", operation_id = "listFlags")]
    async fn flags(
        &self,
        state: Data<&Arc<AppState>>,
        _auth: AdminAuth,
        status: Query<Option<FlagStatusDto>>,
        license_key: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "500")))] limit: Query<Option<u32>>,
        cursor: Query<Option<String>>,
    ) -> Result<Json<Page<FlagBody>>, ReadFailure> {
        if let Some(body) = invalid_cursor(cursor.0.as_deref()) {
            return Err(ReadFailure::BadRequest(body));
        }
        let license_key = parse_license_key(license_key.0.as_deref()).map_err(ReadFailure::BadRequest)?;
        let filter = FlagFilter { status: status.0.map(Into::into), license_key };
        let page = state.usage.list_flags(&filter, &PageRequest::new(limit.0, cursor.0)).await?;
        Ok(Json(Page { items: page.items.into_iter().map(Into::into).collect(), next_cursor: page.next_cursor }))
    }

    /// Close an open flag as reviewed, dismissed or actioned (with the action taken).
    #[oai(path = "/flags/:id/review", method = "post", operation_id = "reviewFlag")]
    async fn review(
        &self,
        state: Data<&Arc<AppState>>,
        _auth: AdminAuth,
        id: Path<String>,
        body: Json<ReviewRequest>,
    ) -> Result<Json<FlagBody>, ChangeFailure> {
        let not_found = || ChangeFailure::NotFound(ErrorBody::new(ErrorCode::NotFound, format!("no flag {}", id.0)));
        let uuid = Uuid::parse_str(&id.0).map_err(|_| not_found())?;
        match state.usage.review_flag(uuid, body.0.status.into(), body.0.action, Actor::Admin).await {
            Ok(flag) => Ok(Json(flag.into())),
            Err(ReviewFlagError::NotFound(_)) => Err(not_found()),
            Err(error @ ReviewFlagError::AlreadyReviewed { .. }) => {
                Err(ChangeFailure::Conflict(ErrorBody::new(ErrorCode::AlreadyReviewed, error.to_string())))
            }
            Err(error @ ReviewFlagError::Invalid(_)) => {
                Err(ChangeFailure::BadRequest(ErrorBody::new(ErrorCode::InvalidRequest, error.to_string())))
            }
            Err(ReviewFlagError::Repository(error)) => Err(error.into()),
        }
    }
}
