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
    #[error("set signing.active_kid: which private key signs?")]
    NoActiveKey,
    #[error("active_kid `{0}` has no private key configured")]
    ActiveKeyMissing(String),
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

    /// The keyring of a configuration: every private key and every retired
    /// public key, `active_kid` naming the one that signs (it may be omitted
    /// when exactly one private key is given). The other private keys verify,
    /// like retired ones.
    pub fn assemble(
        mut private: Vec<SigningKey>,
        mut retired: Vec<(String, [u8; 32])>,
        active_kid: Option<&str>,
    ) -> Result<Self, KeyringError> {
        let active_kid = match (active_kid, private.as_slice()) {
            (Some(kid), _) => kid.to_owned(),
            (None, [only]) => only.kid.clone(),
            (None, _) => return Err(KeyringError::NoActiveKey),
        };
        let position =
            private.iter().position(|key| key.kid == active_kid).ok_or(KeyringError::ActiveKeyMissing(active_kid))?;
        let active = private.remove(position);
        retired.extend(private.into_iter().map(|key| (key.kid.clone(), key.public_key())));
        Self::new(active, retired)
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

#[cfg(test)]
mod assemble_tests {
    use super::*;
    use crate::generate_private_key_pem;

    fn key(kid: &str) -> SigningKey {
        SigningKey::from_pem(kid, &generate_private_key_pem(None).unwrap()).unwrap()
    }

    #[test]
    fn the_active_kid_signs_and_every_other_key_verifies() {
        let retired = vec![("2024".to_owned(), key("2024").public_key())];
        let keyring = Keyring::assemble(vec![key("2025"), key("2026")], retired.clone(), Some("2026")).unwrap();
        assert_eq!(keyring.active().kid, "2026");
        assert_eq!(keyring.kids().collect::<Vec<_>>(), ["2024", "2025", "2026"]);
        let only = Keyring::assemble(vec![key("solo")], vec![], None).unwrap();
        assert_eq!(only.active().kid, "solo", "one private key needs no active_kid");
        assert!(matches!(Keyring::assemble(vec![key("a"), key("b")], vec![], None), Err(KeyringError::NoActiveKey)));
        assert!(matches!(
            Keyring::assemble(vec![key("a")], retired, Some("2024")),
            Err(KeyringError::ActiveKeyMissing(kid)) if kid == "2024"
        ));
    }
}
