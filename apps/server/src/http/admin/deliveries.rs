//! `/admin/v1/deliveries`: the email outbox, and retrying a delivery.

#![allow(clippy::large_enum_variant)]

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi, Tags};
use tessera_domain::audit::Actor;
use tessera_domain::license::LicenseKey;
use tessera_domain::mail::{Delivery, DeliveryFilter, DeliveryKind, DeliveryStatus, RetryDeliveryError};
use tessera_domain::page::PageRequest;
use time::OffsetDateTime;
use uuid::Uuid;

use super::auth::AdminAuth;
use super::page::Page;
use crate::http::errors::{invalid_cursor, ChangeFailure, ErrorBody, ErrorCode, ReadFailure, ShowFailure};
use crate::state::AppState;

#[derive(Tags)]
enum AdminTags {
    /// The email outbox: every license email, with where it stands.
    Deliveries,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum DeliveryStatusDto {
    Pending,
    Sending,
    Sent,
    Failed,
}

impl From<DeliveryStatus> for DeliveryStatusDto {
    fn from(status: DeliveryStatus) -> Self {
        match status {
            DeliveryStatus::Pending => Self::Pending,
            DeliveryStatus::Sending => Self::Sending,
            DeliveryStatus::Sent => Self::Sent,
            DeliveryStatus::Failed => Self::Failed,
        }
    }
}

impl From<DeliveryStatusDto> for DeliveryStatus {
    fn from(status: DeliveryStatusDto) -> Self {
        match status {
            DeliveryStatusDto::Pending => Self::Pending,
            DeliveryStatusDto::Sending => Self::Sending,
            DeliveryStatusDto::Sent => Self::Sent,
            DeliveryStatusDto::Failed => Self::Failed,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum DeliveryKindDto {
    /// A newly issued license.
    License,
    /// A license sent again on request.
    Redelivery,
    /// A buyer's portal request: all of an address's licenses and a signed link.
    Portal,
}

impl From<DeliveryKind> for DeliveryKindDto {
    fn from(kind: DeliveryKind) -> Self {
        match kind {
            DeliveryKind::License => Self::License,
            DeliveryKind::Redelivery => Self::Redelivery,
            DeliveryKind::Portal => Self::Portal,
        }
    }
}

/// One email in the outbox.
#[derive(Debug, Clone, Object)]
pub struct DeliveryBody {
    pub id: String,
    pub kind: DeliveryKindDto,
    #[oai(nullable)]
    pub license_key: Option<String>,
    pub to: String,
    pub status: DeliveryStatusDto,
    /// Attempts started so far.
    pub attempts: u32,
    /// When a pending delivery is tried next.
    pub next_attempt_at: OffsetDateTime,
    #[oai(nullable)]
    pub last_error: Option<String>,
    /// The mail provider's id of the sent message.
    #[oai(nullable)]
    pub provider_message_id: Option<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    #[oai(nullable)]
    pub sent_at: Option<OffsetDateTime>,
}

impl From<Delivery> for DeliveryBody {
    fn from(delivery: Delivery) -> Self {
        Self {
            id: delivery.id.to_string(),
            kind: delivery.kind.into(),
            license_key: delivery.license_key.map(|key| key.to_string()),
            to: delivery.to.as_str().to_owned(),
            status: delivery.status.into(),
            attempts: delivery.attempts,
            next_attempt_at: delivery.next_attempt_at,
            last_error: delivery.last_error,
            provider_message_id: delivery.provider_message_id,
            created_at: delivery.created_at,
            updated_at: delivery.updated_at,
            sent_at: delivery.sent_at,
        }
    }
}

fn no_delivery(id: &str) -> Json<ErrorBody> {
    ErrorBody::new(ErrorCode::NotFound, format!("no delivery {id}"))
}

impl From<RetryDeliveryError> for ChangeFailure {
    fn from(error: RetryDeliveryError) -> Self {
        match error {
            RetryDeliveryError::NotFound(id) => Self::NotFound(no_delivery(&id.to_string())),
            error @ RetryDeliveryError::NotRetryable { .. } => {
                Self::Conflict(ErrorBody::new(ErrorCode::NotRetryable, error.to_string()))
            }
            RetryDeliveryError::Repository(error) => error.into(),
        }
    }
}

#[derive(Default)]
pub struct DeliveriesApi;

#[OpenApi(prefix_path = "/admin/v1/deliveries", tag = "AdminTags::Deliveries")]
impl DeliveriesApi {
    /// Deliveries, newest first.
    #[oai(path = "/", method = "get", operation_id = "listDeliveries")]
    async fn list(
        &self,
        state: Data<&Arc<AppState>>,
        _auth: AdminAuth,
        /// e.g. `failed`
        status: Query<Option<DeliveryStatusDto>>,
        /// Only the deliveries of this license.
        license_key: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "500")))] limit: Query<Option<u32>>,
        cursor: Query<Option<String>>,
    ) -> Result<Json<Page<DeliveryBody>>, ReadFailure> {
        if let Some(body) = invalid_cursor(cursor.0.as_deref()) {
            return Err(ReadFailure::BadRequest(body));
        }
        let license_key = license_key
            .0
            .as_deref()
            .map(LicenseKey::parse)
            .transpose()
            .map_err(|error| ReadFailure::BadRequest(ErrorBody::new(ErrorCode::InvalidKey, error.to_string())))?;
        let filter = DeliveryFilter { status: status.0.map(Into::into), license_key };
        let page = state.outbox.list(&filter, &PageRequest::new(limit.0, cursor.0)).await?;
        Ok(Json(Page { items: page.items.into_iter().map(Into::into).collect(), next_cursor: page.next_cursor }))
    }

    /// One delivery.
    #[oai(path = "/:id", method = "get", operation_id = "getDelivery")]
    async fn get(
        &self,
        state: Data<&Arc<AppState>>,
        _auth: AdminAuth,
        id: Path<String>,
    ) -> Result<Json<DeliveryBody>, ShowFailure> {
        let missing = || ShowFailure::NotFound(no_delivery(&id.0));
        let uuid = Uuid::parse_str(&id.0).map_err(|_| missing())?;
        let delivery = state.outbox.get(uuid).await?.ok_or_else(missing)?;
        Ok(Json(delivery.into()))
    }

    /// Send a failed (or waiting) delivery again now. A sent delivery is not
    /// sent twice: redeliver the license instead.
    #[oai(path = "/:id/retry", method = "post", operation_id = "retryDelivery")]
    async fn retry(
        &self,
        state: Data<&Arc<AppState>>,
        _auth: AdminAuth,
        id: Path<String>,
    ) -> Result<Json<DeliveryBody>, ChangeFailure> {
        let uuid = Uuid::parse_str(&id.0).map_err(|_| ChangeFailure::NotFound(no_delivery(&id.0)))?;
        Ok(Json(state.outbox.retry(uuid, Actor::Admin).await?.into()))
    }
}
