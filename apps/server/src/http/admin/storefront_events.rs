//! `/admin/v1/storefront-events`: the raw webhook log, and replaying an event.

#![allow(clippy::large_enum_variant)]

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi, Tags};
use tessera_domain::page::PageRequest;
use tessera_domain::storefront::{EventFilter, EventStatus, RecordedEvent, ReplayError};
use time::OffsetDateTime;
use uuid::Uuid;

use super::auth::AdminAuth;
use super::page::Page;
use crate::http::errors::{invalid_cursor, ErrorBody, ErrorCode, ReadFailure, ShowFailure};
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

impl From<ReplayError> for ShowFailure {
    fn from(error: ReplayError) -> Self {
        match error {
            ReplayError::NotFound(_) | ReplayError::UnknownStorefront(_) => {
                Self::NotFound(ErrorBody::new(ErrorCode::NotFound, error.to_string()))
            }
            ReplayError::Repository(error) => error.into(),
        }
    }
}

#[derive(Default)]
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
    ) -> Result<Json<Page<StorefrontEventBody>>, ReadFailure> {
        if let Some(body) = invalid_cursor(cursor.0.as_deref()) {
            return Err(ReadFailure::BadRequest(body));
        }
        let filter = EventFilter { storefront: storefront.0, status: status.0.map(Into::into) };
        let page = state.reports.storefront_events(&filter, &PageRequest::new(limit.0, cursor.0)).await?;
        Ok(Json(Page { items: page.items.into_iter().map(Into::into).collect(), next_cursor: page.next_cursor }))
    }

    /// Process a delivery again, e.g. after fixing a product mapping. A sale
    /// still mints at most one license.
    #[oai(path = "/:id/replay", method = "post", operation_id = "replayStorefrontEvent")]
    async fn replay(
        &self,
        state: Data<&Arc<AppState>>,
        _auth: AdminAuth,
        id: Path<String>,
    ) -> Result<Json<StorefrontEventBody>, ShowFailure> {
        let not_found =
            |id: &str| ShowFailure::NotFound(ErrorBody::new(ErrorCode::NotFound, format!("no storefront event {id}")));
        let uuid = Uuid::parse_str(&id.0).map_err(|_| not_found(&id.0))?;
        state.fulfillment.replay(uuid).await?;
        let event = state.reports.storefront_event(uuid).await?.ok_or_else(|| not_found(&id.0))?;
        Ok(Json(event.into()))
    }
}
