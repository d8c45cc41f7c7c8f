//! `GET /health` (on both listeners): serving, and whether the database answers.

use std::sync::Arc;
use std::time::Duration;

use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};

use crate::state::AppState;

#[derive(Tags)]
enum PublicTags {
    /// Liveness and readiness.
    Health,
}

#[derive(Debug, Object)]
pub struct HealthBody {
    /// `ok` or `degraded`.
    pub status: String,
    /// `ok` or `down`.
    pub db: String,
}

#[derive(ApiResponse)]
pub enum HealthResponse {
    /// Serving, database reachable.
    #[oai(status = 200)]
    Ok(Json<HealthBody>),
    /// Running, but the database does not answer.
    #[oai(status = 503)]
    Degraded(Json<HealthBody>),
}

#[derive(Default)]
pub struct HealthApi;

#[OpenApi(tag = "PublicTags::Health")]
impl HealthApi {
    /// Health, with a real database round trip (bounded to 2 s).
    #[oai(path = "/health", method = "get", operation_id = "health")]
    async fn health(&self, state: Data<&Arc<AppState>>) -> HealthResponse {
        let ping = tokio::time::timeout(Duration::from_secs(2), state.reports.store_answers()).await;
        match ping {
            Ok(Ok(())) => HealthResponse::Ok(Json(HealthBody { status: "ok".into(), db: "ok".into() })),
            failed => {
                let reason = match failed {
                    Ok(Err(error)) => crate::http::errors::chain(&error),
                    _ => "timed out".into(),
                };
                tracing::warn!(%reason, "health check: database down");
                HealthResponse::Degraded(Json(HealthBody { status: "degraded".into(), db: "down".into() }))
            }
        }
    }
}
