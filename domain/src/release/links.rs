//! Signed, expiring download links: a `tessera-download+jwt` token naming a
//! license and one artifact. The buyer's credential never goes into a URL
//! that a browser, a proxy or an updater logs; the link does, and it works
//! for minutes only (hours in an update feed, whose updater may download
//! later than it reads the feed).

use std::sync::Arc;

use thiserror::Error;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::clock::{now_seconds, Clock};
use crate::issuance::{DownloadLinkClaims, DownloadLinkVerifier, SignError, Signer};
use crate::license::LicenseKey;

/// Why a download link does not open.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum DownloadLinkError {
    #[error("this download link has expired; ask the app or the portal for a new one")]
    Expired,
    #[error("this download link is not valid: {0}")]
    Invalid(String),
}

/// A freshly signed link's token and when it stops working.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadLink {
    pub token: String,
    pub expires_at: OffsetDateTime,
}

/// What an opened link grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkGrant {
    pub key: LicenseKey,
    pub artifact_id: Uuid,
}

/// How long links work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkLifetimes {
    /// A link answered by `GET /v1/artifacts/{id}` (followed at once).
    pub direct: Duration,
    /// A link inside an update feed (followed when the user agrees to update).
    pub feed: Duration,
}

impl Default for LinkLifetimes {
    fn default() -> Self {
        Self { direct: Duration::minutes(10), feed: Duration::hours(24) }
    }
}

/// Which lifetime a link gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkUse {
    Direct,
    Feed,
}

/// Signs and opens download links.
#[derive(Clone)]
pub struct DownloadLinks {
    signer: Arc<dyn Signer>,
    verifier: Arc<dyn DownloadLinkVerifier>,
    clock: Arc<dyn Clock>,
    issuer: String,
    lifetimes: LinkLifetimes,
}

impl DownloadLinks {
    pub fn new(
        signer: Arc<dyn Signer>,
        verifier: Arc<dyn DownloadLinkVerifier>,
        clock: Arc<dyn Clock>,
        issuer: String,
        lifetimes: LinkLifetimes,
    ) -> Self {
        Self { signer, verifier, clock, issuer, lifetimes }
    }

    /// A link for `key` to fetch artifact `artifact_id`, valid from now for the use's lifetime.
    pub fn issue(&self, key: &LicenseKey, artifact_id: Uuid, used: LinkUse) -> Result<DownloadLink, SignError> {
        let now = now_seconds(self.clock.as_ref());
        let lifetime = match used {
            LinkUse::Direct => self.lifetimes.direct,
            LinkUse::Feed => self.lifetimes.feed,
        };
        let expires_at = now + lifetime;
        let claims = DownloadLinkClaims {
            iss: self.issuer.clone(),
            sub: key.to_string(),
            art: artifact_id.to_string(),
            iat: now.unix_timestamp(),
            exp: expires_at.unix_timestamp(),
        };
        Ok(DownloadLink { token: self.signer.sign_download_link(&claims)?, expires_at })
    }

    /// What `token` grants, if it is a genuine link of this server that has not expired.
    pub fn open(&self, token: &str) -> Result<LinkGrant, DownloadLinkError> {
        let claims =
            self.verifier.verify_download_link(token).map_err(|rejected| DownloadLinkError::Invalid(rejected.0))?;
        if claims.iss != self.issuer {
            return Err(DownloadLinkError::Invalid("issued by another server".into()));
        }
        let expires_at = OffsetDateTime::from_unix_timestamp(claims.exp)
            .map_err(|_| DownloadLinkError::Invalid("expiry out of range".into()))?;
        if self.clock.now() >= expires_at {
            return Err(DownloadLinkError::Expired);
        }
        let key = LicenseKey::parse(&claims.sub).map_err(|_| DownloadLinkError::Invalid("bad license key".into()))?;
        let artifact_id =
            claims.art.parse::<Uuid>().map_err(|_| DownloadLinkError::Invalid("bad artifact id".into()))?;
        Ok(LinkGrant { key, artifact_id })
    }
}
