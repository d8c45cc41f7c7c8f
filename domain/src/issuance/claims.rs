use serde::{Deserialize, Serialize};

use crate::license::License;

/// The JWS `typ` header of a license token.
pub const LICENSE_TOKEN_TYPE: &str = "tessera-license+jwt";

/// The claims of a license token, exactly as the contract names them (§3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenseClaims {
    pub iss: String,
    /// The license key.
    pub sub: String,
    /// The license id.
    pub jti: String,
    pub iat: i64,
    /// Absent when perpetual.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    pub product: String,
    pub tier: String,
    pub features: Vec<String>,
    pub seats: u32,
    pub kind: String,
    pub name: String,
    pub email: String,
}

impl LicenseClaims {
    /// The claims of `license` as issued (`iat`) at `license.updated_at`.
    pub fn of(license: &License, issuer: &str) -> Self {
        Self {
            iss: issuer.to_owned(),
            sub: license.key.to_string(),
            jti: license.id.to_string(),
            iat: license.updated_at.unix_timestamp(),
            exp: license.expires_at.map(|at| at.unix_timestamp()),
            product: license.product.clone(),
            tier: license.tier.clone(),
            features: license.features.clone(),
            seats: license.seats,
            kind: license.kind.to_string(),
            name: license.name.as_str().to_owned(),
            email: license.email.as_str().to_owned(),
        }
    }
}

/// The JWS `typ` header of a lease token.
pub const LEASE_TOKEN_TYPE: &str = "tessera-lease+jwt";

/// The claims of a lease token: one machine's short-lived right to run (§3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseClaims {
    pub iss: String,
    /// The license key.
    pub sub: String,
    /// The activation id.
    pub jti: String,
    pub iat: i64,
    /// `iat + lease_days`, never past the license's own expiry.
    pub exp: i64,
    /// The machine fingerprint the lease is bound to.
    pub fp: String,
    pub product: String,
    pub tier: String,
    pub features: Vec<String>,
    /// Days the app may keep running after `exp` without reaching the server.
    pub grace_days: u32,
}

/// The JWS `typ` header of a portal link token.
pub const PORTAL_LINK_TOKEN_TYPE: &str = "tessera-portal+jwt";

/// The claims of a portal link: who may see their licenses, until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortalLinkClaims {
    pub iss: String,
    /// The buyer's email address: the link shows that address's licenses only.
    pub sub: String,
    pub iat: i64,
    pub exp: i64,
}

/// The JWS `typ` header of a download link token.
pub const DOWNLOAD_LINK_TOKEN_TYPE: &str = "tessera-download+jwt";

/// The claims of a download link: which license may fetch which file, until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownloadLinkClaims {
    pub iss: String,
    /// The license key the link was issued to (the download is counted for it).
    pub sub: String,
    /// The artifact id.
    pub art: String,
    pub iat: i64,
    pub exp: i64,
}
