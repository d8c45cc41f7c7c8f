use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::jws::TokenVerifier;
use crate::{b64url, b64url_decode};

/// One public key in JWK form (RFC 8037: `kty` OKP, `crv` Ed25519).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    pub kty: String,
    #[serde(default)]
    pub crv: String,
    #[serde(default)]
    pub x: String,
    #[serde(default)]
    pub kid: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub alg: String,
    #[serde(default, rename = "use", skip_serializing_if = "String::is_empty")]
    pub use_: String,
}

impl Jwk {
    pub fn ed25519(kid: &str, public_key: &[u8; 32]) -> Self {
        Self {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x: b64url(public_key),
            kid: kid.into(),
            alg: "EdDSA".into(),
            use_: "sig".into(),
        }
    }
}

/// A JSON Web Key Set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum JwksError {
    #[error("not a JWKS document: {0}")]
    NotJwks(String),
    #[error("key `{0}` is not a valid Ed25519 public key")]
    BadKey(String),
    #[error("the JWKS has no Ed25519 signing keys")]
    NoUsableKeys,
}

impl Jwks {
    pub fn parse(json: &str) -> Result<Self, JwksError> {
        serde_json::from_str(json).map_err(|error| JwksError::NotJwks(error.to_string()))
    }

    /// A verifier trusting this set's Ed25519 signing keys. Keys of other types
    /// are skipped (a set may hold them); a malformed Ed25519 key is an error.
    pub fn verifier(&self) -> Result<TokenVerifier, JwksError> {
        let mut keys = BTreeMap::new();
        for jwk in &self.keys {
            let usable = jwk.kty == "OKP"
                && jwk.crv == "Ed25519"
                && (jwk.alg.is_empty() || jwk.alg == "EdDSA")
                && (jwk.use_.is_empty() || jwk.use_ == "sig");
            if !usable {
                continue;
            }
            let key: [u8; 32] = b64url_decode(&jwk.x)
                .and_then(|bytes| bytes.try_into().ok())
                .ok_or_else(|| JwksError::BadKey(jwk.kid.clone()))?;
            keys.insert(jwk.kid.clone(), key);
        }
        if keys.is_empty() {
            return Err(JwksError::NoUsableKeys);
        }
        Ok(TokenVerifier::new(keys))
    }
}
