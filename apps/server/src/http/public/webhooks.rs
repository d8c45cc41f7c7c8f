//! `POST /webhooks/{storefront}`: storefront deliveries. A plain poem handler
//! rather than an OpenAPI operation: the body is the storefront's own format
//! (form-encoded for Gumroad), kept byte for byte.

use std::sync::Arc;

use poem::http::StatusCode;
use poem::web::{Data, Json, Path};
use poem::{handler, Body, IntoResponse, Request, Response};
use serde_json::json;
use tessera_domain::repository::RepositoryError;
use tessera_domain::storefront::{InboundRequest, ReceiveError};

use crate::http::errors::{chain, ErrorBody, ErrorCode};
use crate::state::AppState;

fn error(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Response {
    let mut response = ErrorBody::new(code, message).into_response();
    response.set_status(status);
    response
}

/// 200 once the delivery is recorded, whatever processing found (the event
/// keeps it); 401 unauthenticated; 503 when it could not be recorded, so the
/// storefront retries.
#[handler]
pub async fn receive(
    state: Data<&Arc<AppState>>,
    Path(storefront): Path<String>,
    request: &Request,
    body: Body,
) -> Response {
    let body = match body.into_vec().await {
        Ok(body) => body,
        Err(failure) => return error(StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest, failure.to_string()),
    };
    let query = form_urlencoded::parse(request.uri().query().unwrap_or_default().as_bytes())
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect();
    let headers = request
        .headers()
        .iter()
        .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
        .collect();
    match state.fulfillment.receive(&storefront, InboundRequest { query, headers, body }).await {
        Ok(receipt) => {
            if !receipt.outcome_recorded {
                tracing::error!(event = %receipt.event_id, "storefront event processed but its outcome was not stored; it stays `received`");
            }
            if let Some(problem) = &receipt.outcome.error {
                tracing::warn!(%storefront, event = %receipt.event_id, status = %receipt.outcome.status, %problem, "storefront event not fulfilled");
            }
            Json(json!({
                "event_id": receipt.event_id.to_string(),
                "status": receipt.outcome.status.as_str(),
                "license_key": receipt.outcome.license_key,
            }))
            .into_response()
        }
        Err(ReceiveError::UnknownStorefront(name)) => {
            error(StatusCode::NOT_FOUND, ErrorCode::NotFound, format!("no storefront `{name}` is configured"))
        }
        Err(ReceiveError::Unauthenticated(reason)) => {
            tracing::warn!(%storefront, %reason, "storefront delivery refused");
            // Only failed authentications count against an IP: a genuine delivery is never limited.
            if let Some(limits) = &state.rate_limits {
                let ip = crate::http::client_ip(limits, request);
                if let crate::rate_limit::Verdict::Limited { limit, retry_after } = limits.webhook_auth_failed(ip).await
                {
                    return crate::http::rate_limited(limit, retry_after);
                }
            }
            error(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, "not authenticated")
        }
        Err(ReceiveError::NotRecorded(failure)) => {
            tracing::error!(%storefront, error = %chain(&failure), "storefront delivery could not be recorded");
            match failure {
                RepositoryError::Unavailable(_) => {
                    error(StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Unavailable, "the database is unavailable; retry")
                }
                RepositoryError::Unexpected(_) => error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorCode::Internal,
                    "internal error; the server log has the details",
                ),
            }
        }
    }
}
