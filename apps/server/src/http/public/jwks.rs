//! `GET /.well-known/jwks.json`: the public keys that verify every token.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};

use crate::state::AppState;

#[derive(Tags)]
enum PublicTags {
    /// Public keys that verify every token Tessera signs.
    Keys,
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

#[derive(Default)]
pub struct JwksApi;

#[OpenApi(tag = "PublicTags::Keys")]
impl JwksApi {
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
