use thiserror::Error;

use super::{DownloadLinkClaims, LeaseClaims, LicenseClaims, PortalLinkClaims};

#[derive(Debug, Error)]
#[error("signing failed: {0}")]
pub struct SignError(pub String);

/// Signs tokens with the active signing key. Synchronous: an Ed25519 signature
/// takes microseconds, far less than a context switch.
pub trait Signer: Send + Sync + 'static {
    /// Signs `claims` as a compact JWS with `typ` [`super::LICENSE_TOKEN_TYPE`] and
    /// the active key's `kid`. MUST return `SignError` only when the key cannot
    /// sign (a broken key); valid claims never fail otherwise.
    fn sign_license(&self, claims: &LicenseClaims) -> Result<String, SignError>;

    /// Signs `claims` as a compact JWS with `typ` [`super::LEASE_TOKEN_TYPE`];
    /// fails only as [`Signer::sign_license`] does.
    fn sign_lease(&self, claims: &LeaseClaims) -> Result<String, SignError>;

    /// Signs `claims` as a compact JWS with `typ` [`super::PORTAL_LINK_TOKEN_TYPE`];
    /// fails only as [`Signer::sign_license`] does.
    fn sign_portal_link(&self, claims: &PortalLinkClaims) -> Result<String, SignError>;

    /// Signs `claims` as a compact JWS with `typ` [`super::DOWNLOAD_LINK_TOKEN_TYPE`];
    /// fails only as [`Signer::sign_license`] does.
    fn sign_download_link(&self, claims: &DownloadLinkClaims) -> Result<String, SignError>;
}

/// Why a presented lease token was refused.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("invalid lease: {0}")]
pub struct LeaseRejected(pub String);

/// Checks lease tokens that machines present back to the server.
pub trait LeaseVerifier: Send + Sync + 'static {
    /// The claims of `token` if it is a lease (`typ` [`super::LEASE_TOKEN_TYPE`],
    /// `alg` EdDSA) signed by a key of the keyring, active or retired. Expiry is
    /// NOT checked: heartbeats renew expired leases. MUST return `LeaseRejected`
    /// naming the reason for anything else, including a license token.
    fn verify_lease(&self, token: &str) -> Result<LeaseClaims, LeaseRejected>;
}

/// Why a presented portal link token was refused.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("invalid portal link: {0}")]
pub struct PortalLinkRejected(pub String);

/// Checks the signed links the portal emails to buyers.
pub trait PortalLinkVerifier: Send + Sync + 'static {
    /// The claims of `token` if it is a portal link (`typ`
    /// [`super::PORTAL_LINK_TOKEN_TYPE`], `alg` EdDSA) signed by a key of the
    /// keyring. Expiry is NOT checked here: the caller tells an expired link
    /// from a forged one. MUST return `PortalLinkRejected` for anything else,
    /// including license and lease tokens.
    fn verify_portal_link(&self, token: &str) -> Result<PortalLinkClaims, PortalLinkRejected>;
}

/// Why a presented download link token was refused.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("invalid download link: {0}")]
pub struct DownloadLinkRejected(pub String);

/// Checks the signed, expiring download links buyers' apps and browsers follow.
pub trait DownloadLinkVerifier: Send + Sync + 'static {
    /// The claims of `token` if it is a download link (`typ`
    /// [`super::DOWNLOAD_LINK_TOKEN_TYPE`], `alg` EdDSA) signed by a key of the
    /// keyring. Expiry is NOT checked here: the caller tells an expired link
    /// (410) from a forged one (403). MUST return `DownloadLinkRejected` for
    /// anything else, including license, lease and portal tokens.
    fn verify_download_link(&self, token: &str) -> Result<DownloadLinkClaims, DownloadLinkRejected>;
}
