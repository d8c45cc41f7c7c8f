//! The public listener's operations: health and the signing keys.

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
    /// Public keys that verify every token Tessera signs.
    Keys,
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
                    Ok(Err(error)) => super::errors::chain(&error),
                    _ => "timed out".into(),
                };
                tracing::warn!(%reason, "health check: database down");
                HealthResponse::Degraded(Json(HealthBody { status: "degraded".into(), db: "down".into() }))
            }
        }
    }
}

#[derive(Debug, Object)]
pub struct JwkBody {
    /// `OKP`
    pub kty: String,
    /// `Ed25519`
    pub crv: String,
    /// The public key, base64url.
    pub x: String,
    pub kid: String,
    /// `EdDSA`
    pub alg: String,
    /// `sig`
    #[oai(rename = "use")]
    pub use_: String,
}

#[derive(Debug, Object)]
pub struct JwksBody {
    pub keys: Vec<JwkBody>,
}

#[derive(ApiResponse)]
pub enum JwksResponse {
    #[oai(status = 200)]
    Ok(Json<JwksBody>, #[oai(header = "Cache-Control")] String),
}

pub struct KeysApi;

#[OpenApi(tag = "PublicTags::Keys")]
impl KeysApi {
    /// The active and retired public keys (RFC 7517 / RFC 8037).
    #[oai(path = "/.well-known/jwks.json", method = "get", operation_id = "jwks")]
    async fn jwks(&self, state: Data<&Arc<AppState>>) -> JwksResponse {
        let keys = state
            .keyring
            .jwks()
            .keys
            .into_iter()
            .map(|jwk| JwkBody { kty: jwk.kty, crv: jwk.crv, x: jwk.x, kid: jwk.kid, alg: jwk.alg, use_: jwk.use_ })
            .collect();
        JwksResponse::Ok(Json(JwksBody { keys }), "public, max-age=300".into())
    }
}
