//! Usage events and flags from activated machines, authenticated by their
//! lease: `POST /v1/usage` and `POST /v1/flags`.

#![allow(clippy::large_enum_variant)]

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::auth::Bearer;
use poem_openapi::payload::Json;
use poem_openapi::types::Any;
use poem_openapi::{ApiResponse, Object, OpenApi, SecurityScheme, Tags};
use tessera_domain::usage::ReportError;

use crate::http::errors::{rejected, storage_failure, ErrorBody, ErrorCode, Rejection};
use crate::state::AppState;

#[derive(Tags)]
enum UsageTags {
    /// What activated machines report.
    Usage,
}

/// `Authorization: Bearer <lease>`: the machine's current (or in-grace) lease.
#[derive(SecurityScheme)]
#[oai(ty = "bearer")]
pub struct LeaseAuth(Bearer);

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct UsageRequest {
    /// `session.start`, `export.csv`, … (1-64 of a-z, 0-9, `_.:-`).
    #[oai(validator(pattern = r"^[a-z0-9_.:-]{1,64}$"))]
    pub event: String,
    /// A JSON object of at most 4096 bytes.
    #[oai(nullable)]
    pub metadata: Option<Any<serde_json::Value>>,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct FlagRequest {
    /// `shared_key`, `tamper`, … (1-64 of a-z, 0-9, `_.:-`).
    #[oai(validator(pattern = r"^[a-z0-9_.:-]{1,64}$"))]
    pub reason: String,
    /// Up to 2000 characters.
    #[oai(validator(max_length = 2000))]
    #[oai(nullable)]
    pub message: Option<String>,
    /// A JSON object of at most 4096 bytes.
    #[oai(nullable)]
    pub metadata: Option<Any<serde_json::Value>>,
}

#[derive(Debug, Object)]
pub struct RecordedBody {
    pub id: String,
}

#[derive(ApiResponse)]
#[oai(bad_request_handler = "report_bad_request")]
pub enum ReportResponse {
    /// Recorded.
    #[oai(status = 202)]
    Accepted(Json<RecordedBody>),
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// No lease, or not a valid one (`INVALID_LEASE`).
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// The machine is no longer activated (`NO_MACHINE`).
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

fn report_bad_request(error: poem::Error) -> ReportResponse {
    match rejected(error) {
        Rejection::Unauthorized(_) => {
            ReportResponse::Unauthorized(ErrorBody::new(ErrorCode::InvalidLease, "send Authorization: Bearer <lease>"))
        }
        Rejection::BadRequest(body) => ReportResponse::BadRequest(body),
    }
}

impl From<ReportError> for ReportResponse {
    fn from(error: ReportError) -> Self {
        match &error {
            ReportError::InvalidLease(_) => {
                Self::Unauthorized(ErrorBody::new(ErrorCode::InvalidLease, error.to_string()))
            }
            ReportError::NoMachine => Self::Forbidden(ErrorBody::new(ErrorCode::NoMachine, error.to_string())),
            ReportError::Invalid(_) => Self::BadRequest(ErrorBody::new(ErrorCode::InvalidRequest, error.to_string())),
            ReportError::Repository(repository) => storage_failure!(Self, repository),
        }
    }
}

#[derive(Default)]
pub struct UsageApi;

#[OpenApi(prefix_path = "/v1", tag = "UsageTags::Usage")]
impl UsageApi {
    /// Record a usage event for the machine holding the lease.
    #[oai(path = "/usage", method = "post", operation_id = "recordUsage")]
    async fn usage(&self, state: Data<&Arc<AppState>>, lease: LeaseAuth, body: Json<UsageRequest>) -> ReportResponse {
        let metadata = body.0.metadata.map(|any| any.0);
        match state.usage.record_usage(&lease.0.token, &body.0.event, metadata).await {
            Ok(event) => ReportResponse::Accepted(Json(RecordedBody { id: event.id.to_string() })),
            Err(error) => error.into(),
        }
    }

    /// Raise a flag for the operator (e.g. `shared_key`).
    #[oai(path = "/flags", method = "post", operation_id = "raiseFlag")]
    async fn flag(&self, state: Data<&Arc<AppState>>, lease: LeaseAuth, body: Json<FlagRequest>) -> ReportResponse {
        let FlagRequest { reason, message, metadata } = body.0;
        match state.usage.raise_flag(&lease.0.token, &reason, message, metadata.map(|any| any.0)).await {
            Ok(flag) => ReportResponse::Accepted(Json(RecordedBody { id: flag.id.to_string() })),
            Err(error) => error.into(),
        }
    }
}
