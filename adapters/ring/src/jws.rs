//! Compact JWS with `alg: EdDSA`, signed and verified strictly: one algorithm,
//! an expected `typ`, a known `kid`, no `crit` extensions, canonical base64url.

use std::collections::BTreeMap;

use ring::signature::{UnparsedPublicKey, ED25519};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use thiserror::Error;

use crate::keys::SigningKey;
use crate::{b64url, b64url_decode};

/// Longer tokens are refused before any parsing.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    #[error("unsupported algorithm `{0}` (only EdDSA is accepted)")]
    UnsupportedAlgorithm(String),
    #[error("wrong token type: expected `{expected}`, found `{found}`")]
    WrongType { expected: String, found: String },
    #[error("unknown signing key `{0}`")]
    UnknownKey(String),
    #[error("unsupported critical header parameters")]
    CriticalHeader,
    #[error("invalid signature")]
    BadSignature,
    #[error("token expired at {exp} (unix time)")]
    Expired { exp: i64 },
    #[error("token not valid before {nbf} (unix time)")]
    NotYetValid { nbf: i64 },
    #[error("unexpected claims: {0}")]
    Claims(String),
}

/// Signs `payload` (JSON) as `header.payload.signature` with `key`.
pub fn sign_compact(key: &SigningKey, typ: &str, payload: &[u8]) -> String {
    let header = serde_json::json!({ "alg": "EdDSA", "typ": typ, "kid": key.kid });
    let mut token = b64url(header.to_string().as_bytes());
    token.push('.');
    token.push_str(&b64url(payload));
    let signature = key.sign(token.as_bytes());
    token.push('.');
    token.push_str(&b64url(&signature));
    token
}

/// A token whose signature, type and key checked out.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedToken {
    pub kid: String,
    pub typ: String,
    pub claims: Map<String, Value>,
}

impl VerifiedToken {
    /// The claims as a typed struct.
    pub fn claims_as<T: DeserializeOwned>(&self) -> Result<T, VerifyError> {
        serde_json::from_value(Value::Object(self.claims.clone()))
            .map_err(|error| VerifyError::Claims(error.to_string()))
    }

    pub fn exp(&self) -> Option<i64> {
        self.claims.get("exp").and_then(Value::as_i64)
    }
}

/// Verifies tokens against a fixed set of public keys by `kid`.
#[derive(Debug, Clone)]
pub struct TokenVerifier {
    keys: BTreeMap<String, [u8; 32]>,
}

fn decode_json_object(part: &str, what: &'static str) -> Result<Map<String, Value>, VerifyError> {
    let bytes = b64url_decode(part).ok_or(VerifyError::Malformed(what))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(VerifyError::Malformed(what)),
    }
}

impl TokenVerifier {
    pub fn new(keys: BTreeMap<String, [u8; 32]>) -> Self {
        Self { keys }
    }

    /// Verifies a detached Ed25519 `signature` (base64url) over `message` by key
    /// `kid`: how clients check the `Tessera-Signature` of a response body.
    pub fn verify_detached(&self, kid: &str, message: &[u8], signature: &str) -> Result<(), VerifyError> {
        let public_key = self.keys.get(kid).ok_or_else(|| VerifyError::UnknownKey(kid.to_owned()))?;
        let signature = b64url_decode(signature).ok_or(VerifyError::Malformed("signature"))?;
        UnparsedPublicKey::new(&ED25519, public_key).verify(message, &signature).map_err(|_| VerifyError::BadSignature)
    }

    /// Reads the `typ` header without verifying anything, to pick what to expect.
    pub fn peek_type(token: &str) -> Option<String> {
        let header = token.split('.').next()?;
        decode_json_object(header, "header").ok()?.get("typ")?.as_str().map(str::to_owned)
    }

    /// Verifies `token` as a `expected_typ` token at unix time `now`. With
    /// `check_expiry` false an expired token whose signature verifies is accepted
    /// (heartbeats renew expired leases); the caller then sees `exp`.
    pub fn verify(
        &self,
        token: &str,
        expected_typ: &str,
        now: i64,
        check_expiry: bool,
    ) -> Result<VerifiedToken, VerifyError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(VerifyError::Malformed("token too long"));
        }
        let mut parts = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(VerifyError::Malformed("expected three dot-separated parts"));
        };
        let header = decode_json_object(header_b64, "header")?;
        match header.get("alg").and_then(Value::as_str) {
            Some("EdDSA") => {}
            Some(other) => return Err(VerifyError::UnsupportedAlgorithm(other.to_owned())),
            None => return Err(VerifyError::UnsupportedAlgorithm("<missing>".into())),
        }
        if header.contains_key("crit") {
            return Err(VerifyError::CriticalHeader);
        }
        let typ = header.get("typ").and_then(Value::as_str).unwrap_or_default();
        if typ != expected_typ {
            return Err(VerifyError::WrongType { expected: expected_typ.to_owned(), found: typ.to_owned() });
        }
        let kid = header.get("kid").and_then(Value::as_str).ok_or(VerifyError::Malformed("missing kid"))?;
        let public_key = self.keys.get(kid).ok_or_else(|| VerifyError::UnknownKey(kid.to_owned()))?;
        let signature = b64url_decode(signature_b64).ok_or(VerifyError::Malformed("signature"))?;
        let signed = &token[..header_b64.len() + 1 + payload_b64.len()];
        UnparsedPublicKey::new(&ED25519, public_key)
            .verify(signed.as_bytes(), &signature)
            .map_err(|_| VerifyError::BadSignature)?;

        let claims = decode_json_object(payload_b64, "claims")?;
        let number = |name: &str| match claims.get(name) {
            None => Ok(None),
            Some(value) => value.as_i64().map(Some).ok_or(VerifyError::Claims(format!("`{name}` is not an integer"))),
        };
        let exp = number("exp")?;
        if let Some(nbf) = number("nbf")? {
            if now < nbf {
                return Err(VerifyError::NotYetValid { nbf });
            }
        }
        if let Some(exp) = exp {
            if check_expiry && now >= exp {
                return Err(VerifyError::Expired { exp });
            }
        }
        Ok(VerifiedToken { kid: kid.to_owned(), typ: typ.to_owned(), claims })
    }
}
