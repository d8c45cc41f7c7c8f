use std::collections::BTreeMap;

use thiserror::Error;

use crate::jwks::{Jwk, Jwks};
use crate::jws::TokenVerifier;
use crate::keys::SigningKey;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum KeyringError {
    #[error("key id `{0}` is used twice")]
    DuplicateKid(String),
    #[error("a key id is 1-64 characters of A-Z, a-z, 0-9, '.', '_' or '-'")]
    InvalidKid(String),
}

/// The active signing key plus retired keys that still verify. Everything the
/// keyring publishes (JWKS) and verifies agrees by construction.
#[derive(Debug)]
pub struct Keyring {
    active: SigningKey,
    /// Every verifying key by kid, the active one included.
    public_keys: BTreeMap<String, [u8; 32]>,
}

fn valid_kid(kid: &str) -> bool {
    (1..=64).contains(&kid.len()) && kid.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

impl Keyring {
    pub fn new(active: SigningKey, retired: Vec<(String, [u8; 32])>) -> Result<Self, KeyringError> {
        let mut public_keys = BTreeMap::new();
        for (kid, key) in std::iter::once((active.kid.clone(), active.public_key())).chain(retired) {
            if !valid_kid(&kid) {
                return Err(KeyringError::InvalidKid(kid));
            }
            if public_keys.insert(kid.clone(), key).is_some() {
                return Err(KeyringError::DuplicateKid(kid));
            }
        }
        Ok(Self { active, public_keys })
    }

    pub fn active(&self) -> &SigningKey {
        &self.active
    }

    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.public_keys.keys().map(String::as_str)
    }

    /// The public keys as a JWKS, active key first.
    pub fn jwks(&self) -> Jwks {
        let active = &self.active.kid;
        let mut keys: Vec<Jwk> = self.public_keys.iter().map(|(kid, key)| Jwk::ed25519(kid, key)).collect();
        keys.sort_by_key(|jwk| jwk.kid != *active);
        Jwks { keys }
    }

    pub fn verifier(&self) -> TokenVerifier {
        TokenVerifier::new(self.public_keys.clone())
    }
}
