//! `/admin/v1/storefront-events`: the raw webhook log, and replaying an event.

#![allow(clippy::large_enum_variant)]

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, Tags};
use tessera_domain::page::PageRequest;
use tessera_domain::storefront::{EventFilter, EventStatus, RecordedEvent, ReplayError};
use time::OffsetDateTime;
use uuid::Uuid;

use super::auth::AdminAuth;
use super::page::Page;
use crate::http::errors::{
    admin_bad_request_handler, invalid_cursor, storage_failure, AdminRead, ErrorBody, ErrorCode,
};
use crate::state::AppState;

#[derive(Tags)]
enum AdminTags {
    /// Storefront webhook deliveries, as received.
    StorefrontEvents,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum EventStatusDto {
    Received,
    Processed,
    Failed,
    Ignored,
    Duplicate,
}

impl From<EventStatus> for EventStatusDto {
    fn from(status: EventStatus) -> Self {
        match status {
            EventStatus::Received => Self::Received,
            EventStatus::Processed => Self::Processed,
            EventStatus::Failed => Self::Failed,
            EventStatus::Ignored => Self::Ignored,
            EventStatus::Duplicate => Self::Duplicate,
        }
    }
}

impl From<EventStatusDto> for EventStatus {
    fn from(status: EventStatusDto) -> Self {
        match status {
            EventStatusDto::Received => Self::Received,
            EventStatusDto::Processed => Self::Processed,
            EventStatusDto::Failed => Self::Failed,
            EventStatusDto::Ignored => Self::Ignored,
            EventStatusDto::Duplicate => Self::Duplicate,
        }
    }
}

/// One delivery and what processing found.
#[derive(Debug, Object)]
pub struct StorefrontEventBody {
    pub id: String,
    pub storefront: String,
    pub received_at: OffsetDateTime,
    pub status: EventStatusDto,
    /// `sale`, `refund`, … once parsed.
    #[oai(nullable)]
    pub kind: Option<String>,
    #[oai(nullable)]
    pub dedupe_key: Option<String>,
    /// Why it failed or was ignored.
    #[oai(nullable)]
    pub error: Option<String>,
    #[oai(nullable)]
    pub license_key: Option<String>,
    pub attempts: u32,
    #[oai(nullable)]
    pub processed_at: Option<OffsetDateTime>,
    /// The query string without secrets.
    pub query: String,
    /// The body as received (bytes that are not UTF-8 shown as U+FFFD).
    pub body: String,
}

impl From<RecordedEvent> for StorefrontEventBody {
    fn from(event: RecordedEvent) -> Self {
        Self {
            id: event.id.to_string(),
            storefront: event.storefront,
            received_at: event.received_at,
            status: event.status.into(),
            kind: event.kind,
            dedupe_key: event.dedupe_key,
            error: event.error,
            license_key: event.license_key,
            attempts: event.attempts,
            processed_at: event.processed_at,
            query: event.query,
            body: String::from_utf8_lossy(&event.body).into_owned(),
        }
    }
}

type ListEventsResponse = AdminRead<Page<StorefrontEventBody>>;

#[derive(ApiResponse)]
#[oai(bad_request_handler = "replay_bad_request")]
pub enum ReplayResponse {
    /// Processed again; the event as it is now.
    #[oai(status = 200)]
    Ok(Json<StorefrontEventBody>),
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// Missing or wrong admin token.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

admin_bad_request_handler!(replay_bad_request, ReplayResponse);

pub struct StorefrontEventsApi;

#[OpenApi(prefix_path = "/admin/v1/storefront-events", tag = "AdminTags::StorefrontEvents")]
impl StorefrontEventsApi {
    /// Deliveries, newest first.
    #[oai(path = "/", method = "get", operation_id = "listStorefrontEvents")]
    async fn list(
        &self,
        state: Data<&Arc<AppState>>,
        _auth: AdminAuth,
        /// e.g. `gumroad`
        storefront: Query<Option<String>>,
        /// e.g. `failed`
        status: Query<Option<EventStatusDto>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "500")))] limit: Query<Option<u32>>,
        cursor: Query<Option<String>>,
    ) -> ListEventsResponse {
        if let Some(body) = invalid_cursor(cursor.0.as_deref()) {
            return ListEventsResponse::BadRequest(body);
        }
        let filter = EventFilter { storefront: storefront.0, status: status.0.map(Into::into) };
        match state.reports.storefront_events(&filter, &PageRequest::new(limit.0, cursor.0)).await {
            Ok(page) => ListEventsResponse::Ok(Json(Page {
                items: page.items.into_iter().map(Into::into).collect(),
                next_cursor: page.next_cursor,
            })),
            Err(error) => storage_failure!(AdminRead, &error),
        }
    }

    /// Process a delivery again, e.g. after fixing a product mapping. A sale
    /// still mints at most one license.
    #[oai(path = "/:id/replay", method = "post", operation_id = "replayStorefrontEvent")]
    async fn replay(&self, state: Data<&Arc<AppState>>, _auth: AdminAuth, id: Path<String>) -> ReplayResponse {
        let not_found = |message: String| ReplayResponse::NotFound(ErrorBody::new(ErrorCode::NotFound, message));
        let Ok(id) = Uuid::parse_str(&id.0) else { return not_found(format!("no storefront event {}", id.0)) };
        match state.fulfillment.replay(id).await {
            Ok(_) => match state.reports.storefront_event(id).await {
                Ok(Some(event)) => ReplayResponse::Ok(Json(event.into())),
                Ok(None) => not_found(format!("no storefront event {id}")),
                Err(error) => storage_failure!(ReplayResponse, &error),
            },
            Err(error @ (ReplayError::NotFound(_) | ReplayError::UnknownStorefront(_))) => not_found(error.to_string()),
            Err(ReplayError::Repository(error)) => storage_failure!(ReplayResponse, &error),
        }
    }
}
