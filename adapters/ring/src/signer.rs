use std::sync::Arc;

use tessera_domain::issuance::{
    DownloadLinkClaims, DownloadLinkRejected, DownloadLinkVerifier, LeaseClaims, LeaseRejected, LeaseVerifier,
    LicenseClaims, PortalLinkClaims, PortalLinkRejected, PortalLinkVerifier, SignError, Signer,
    DOWNLOAD_LINK_TOKEN_TYPE, LEASE_TOKEN_TYPE, LICENSE_TOKEN_TYPE, PORTAL_LINK_TOKEN_TYPE,
};

use crate::jws::{sign_compact, TokenVerifier};
use crate::keyring::Keyring;

/// Signs with the keyring's active key; verifies leases against all its keys.
#[derive(Debug, Clone)]
pub struct RingSigner {
    keyring: Arc<Keyring>,
    verifier: TokenVerifier,
}

impl RingSigner {
    pub fn new(keyring: Arc<Keyring>) -> Self {
        let verifier = keyring.verifier();
        Self { keyring, verifier }
    }

    fn sign(&self, typ: &str, claims: &impl serde::Serialize) -> Result<String, SignError> {
        let payload = serde_json::to_vec(claims).map_err(|error| SignError(error.to_string()))?;
        Ok(sign_compact(self.keyring.active(), typ, &payload))
    }
}

impl Signer for RingSigner {
    fn sign_license(&self, claims: &LicenseClaims) -> Result<String, SignError> {
        self.sign(LICENSE_TOKEN_TYPE, claims)
    }

    fn sign_lease(&self, claims: &LeaseClaims) -> Result<String, SignError> {
        self.sign(LEASE_TOKEN_TYPE, claims)
    }

    fn sign_portal_link(&self, claims: &PortalLinkClaims) -> Result<String, SignError> {
        self.sign(PORTAL_LINK_TOKEN_TYPE, claims)
    }

    fn sign_download_link(&self, claims: &DownloadLinkClaims) -> Result<String, SignError> {
        self.sign(DOWNLOAD_LINK_TOKEN_TYPE, claims)
    }
}

impl LeaseVerifier for RingSigner {
    fn verify_lease(&self, token: &str) -> Result<LeaseClaims, LeaseRejected> {
        // Leases carry no `nbf` and their expiry is the caller's to judge, so no clock is needed here.
        let verified = self
            .verifier
            .verify(token, LEASE_TOKEN_TYPE, i64::MAX, false)
            .map_err(|error| LeaseRejected(error.to_string()))?;
        verified.claims_as().map_err(|error| LeaseRejected(error.to_string()))
    }
}

impl PortalLinkVerifier for RingSigner {
    fn verify_portal_link(&self, token: &str) -> Result<PortalLinkClaims, PortalLinkRejected> {
        let verified = self
            .verifier
            .verify(token, PORTAL_LINK_TOKEN_TYPE, i64::MAX, false)
            .map_err(|error| PortalLinkRejected(error.to_string()))?;
        verified.claims_as().map_err(|error| PortalLinkRejected(error.to_string()))
    }
}

impl DownloadLinkVerifier for RingSigner {
    fn verify_download_link(&self, token: &str) -> Result<DownloadLinkClaims, DownloadLinkRejected> {
        let verified = self
            .verifier
            .verify(token, DOWNLOAD_LINK_TOKEN_TYPE, i64::MAX, false)
            .map_err(|error| DownloadLinkRejected(error.to_string()))?;
        verified.claims_as().map_err(|error| DownloadLinkRejected(error.to_string()))
    }
}
