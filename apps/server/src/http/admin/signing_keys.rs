//! `/admin/v1/keys`: the signing keys the server holds, for key rotation.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, Tags};

use super::auth::AdminAuth;
use super::page::Page;
use crate::http::errors::{admin_bad_request_handler, ErrorBody};
use crate::state::AppState;

#[derive(Tags)]
enum AdminTags {
    /// Signing keys (public halves only).
    Keys,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum KeyStatus {
    /// Signs new tokens and leases.
    Active,
    /// Verifies only; still published in the JWKS.
    Retired,
}

#[derive(Debug, Clone, Object)]
pub struct KeyBody {
    pub kid: String,
    pub status: KeyStatus,
    /// Always `EdDSA` (Ed25519).
    pub alg: String,
    /// The public key, base64url (the JWK's `x`).
    pub public_key: String,
}

#[derive(ApiResponse)]
#[oai(bad_request_handler = "keys_bad_request")]
pub enum KeysResponse {
    #[oai(status = 200)]
    Ok(Json<Page<KeyBody>>),
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// Missing or wrong admin token.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
}

admin_bad_request_handler!(keys_bad_request, KeysResponse);

#[derive(Default)]
pub struct SigningKeysApi;

#[OpenApi(tag = "AdminTags::Keys")]
impl SigningKeysApi {
    /// The active key first, then the retired ones.
    #[oai(path = "/admin/v1/keys", method = "get", operation_id = "listKeys")]
    async fn list(&self, state: Data<&Arc<AppState>>, _auth: AdminAuth) -> KeysResponse {
        let active = &state.keyring.active().kid;
        let mut items: Vec<KeyBody> = state
            .keyring
            .jwks()
            .keys
            .into_iter()
            .map(|jwk| KeyBody {
                status: if &jwk.kid == active { KeyStatus::Active } else { KeyStatus::Retired },
                kid: jwk.kid,
                alg: jwk.alg,
                public_key: jwk.x,
            })
            .collect();
        items.sort_by_key(|key| (key.status != KeyStatus::Active, key.kid.clone()));
        KeysResponse::Ok(Json(Page { items, next_cursor: None }))
    }
}
