use serde::de::DeserializeOwned;
use tessera_domain::issuance::{
    DownloadLinkClaims, DownloadLinkRejected, DownloadLinkVerifier, LeaseClaims, LeaseRejected, LeaseVerifier,
    LicenseClaims, PortalLinkClaims, PortalLinkRejected, PortalLinkVerifier, SignError, Signer,
};
use tessera_domain::portal::PortalLinks;

/// A signer that does not sign: a "token" is a type prefix followed by the
/// claims as JSON, so domain tests can read back exactly what would be signed.
/// As a [`LeaseVerifier`] it accepts the leases it made.
#[derive(Debug, Default)]
pub struct InMemorySigner;

impl InMemorySigner {
    pub const PREFIX: &'static str = "unsigned.";
    pub const LEASE_PREFIX: &'static str = "unsigned-lease.";
    pub const PORTAL_PREFIX: &'static str = "unsigned-portal.";
    pub const DOWNLOAD_PREFIX: &'static str = "unsigned-download.";

    /// The claims inside a license token this signer produced.
    pub fn claims_of(token: &str) -> Option<LicenseClaims> {
        json_from(token.strip_prefix(Self::PREFIX)?)
    }

    /// The claims inside a lease token this signer produced.
    pub fn lease_claims_of(token: &str) -> Option<LeaseClaims> {
        json_from(token.strip_prefix(Self::LEASE_PREFIX)?)
    }
}

fn json_from<T: DeserializeOwned>(text: &str) -> Option<T> {
    serde_json::from_str(text).ok()
}

fn unsigned(prefix: &str, claims: &impl serde::Serialize) -> Result<String, SignError> {
    let json = serde_json::to_string(claims).map_err(|error| SignError(error.to_string()))?;
    Ok(format!("{prefix}{json}"))
}

impl Signer for InMemorySigner {
    fn sign_license(&self, claims: &LicenseClaims) -> Result<String, SignError> {
        unsigned(Self::PREFIX, claims)
    }

    fn sign_lease(&self, claims: &LeaseClaims) -> Result<String, SignError> {
        unsigned(Self::LEASE_PREFIX, claims)
    }

    fn sign_portal_link(&self, claims: &PortalLinkClaims) -> Result<String, SignError> {
        unsigned(Self::PORTAL_PREFIX, claims)
    }

    fn sign_download_link(&self, claims: &DownloadLinkClaims) -> Result<String, SignError> {
        unsigned(Self::DOWNLOAD_PREFIX, claims)
    }
}

impl DownloadLinkVerifier for InMemorySigner {
    fn verify_download_link(&self, token: &str) -> Result<DownloadLinkClaims, DownloadLinkRejected> {
        token
            .strip_prefix(Self::DOWNLOAD_PREFIX)
            .and_then(json_from)
            .ok_or_else(|| DownloadLinkRejected("not a download link of this signer".into()))
    }
}

impl PortalLinkVerifier for InMemorySigner {
    fn verify_portal_link(&self, token: &str) -> Result<PortalLinkClaims, PortalLinkRejected> {
        token
            .strip_prefix(Self::PORTAL_PREFIX)
            .and_then(json_from)
            .ok_or_else(|| PortalLinkRejected("not a portal link of this signer".into()))
    }
}

impl LeaseVerifier for InMemorySigner {
    fn verify_lease(&self, token: &str) -> Result<LeaseClaims, LeaseRejected> {
        Self::lease_claims_of(token).ok_or_else(|| LeaseRejected("not a lease of this signer".into()))
    }
}

impl InMemorySigner {
    /// Portal links signed (not really) by this signer, valid for an hour on `clock`.
    pub fn portal_links(clock: std::sync::Arc<dyn tessera_domain::clock::Clock>, issuer: &str) -> PortalLinks {
        let signer = std::sync::Arc::new(Self);
        PortalLinks::new(signer.clone(), signer, clock, issuer.to_owned(), time::Duration::hours(1))
    }
}
