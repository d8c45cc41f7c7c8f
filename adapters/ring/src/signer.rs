use std::sync::Arc;

use tessera_domain::issuance::{LicenseClaims, SignError, Signer, LICENSE_TOKEN_TYPE};

use crate::jws::sign_compact;
use crate::keyring::Keyring;

/// Signs with the keyring's active key.
#[derive(Debug, Clone)]
pub struct RingSigner {
    keyring: Arc<Keyring>,
}

impl RingSigner {
    pub fn new(keyring: Arc<Keyring>) -> Self {
        Self { keyring }
    }
}

impl Signer for RingSigner {
    fn sign_license(&self, claims: &LicenseClaims) -> Result<String, SignError> {
        let payload = serde_json::to_vec(claims).map_err(|error| SignError(error.to_string()))?;
        Ok(sign_compact(self.keyring.active(), LICENSE_TOKEN_TYPE, &payload))
    }
}
