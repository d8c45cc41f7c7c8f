//! Signed, expiring links to the buyer portal: a `tessera-portal+jwt` token
//! naming the buyer's address. Issued by the outbox when it renders a portal
//! email, opened by the portal; neither needs the other.

use std::sync::Arc;

use thiserror::Error;
use time::{Duration, OffsetDateTime};

use crate::clock::{now_seconds, Clock};
use crate::issuance::{PortalLinkClaims, PortalLinkVerifier, SignError, Signer};
use crate::license::EmailAddress;

/// Why a portal link does not open.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum PortalLinkError {
    #[error("this link has expired; ask for a new one")]
    Expired,
    #[error("this link is not valid: {0}")]
    Invalid(String),
}

/// A link to the portal, freshly signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalLink {
    pub token: String,
    pub expires_at: OffsetDateTime,
}

/// Signs and opens portal links.
#[derive(Clone)]
pub struct PortalLinks {
    signer: Arc<dyn Signer>,
    verifier: Arc<dyn PortalLinkVerifier>,
    clock: Arc<dyn Clock>,
    issuer: String,
    lifetime: Duration,
}

impl PortalLinks {
    pub fn new(
        signer: Arc<dyn Signer>,
        verifier: Arc<dyn PortalLinkVerifier>,
        clock: Arc<dyn Clock>,
        issuer: String,
        lifetime: Duration,
    ) -> Self {
        Self { signer, verifier, clock, issuer, lifetime }
    }

    /// A link for `email`, valid for the configured lifetime from now.
    pub fn issue(&self, email: &EmailAddress) -> Result<PortalLink, SignError> {
        let now = now_seconds(self.clock.as_ref());
        let expires_at = now + self.lifetime;
        let claims = PortalLinkClaims {
            iss: self.issuer.clone(),
            sub: email.as_str().to_owned(),
            iat: now.unix_timestamp(),
            exp: expires_at.unix_timestamp(),
        };
        Ok(PortalLink { token: self.signer.sign_portal_link(&claims)?, expires_at })
    }

    /// The address `token` was issued for, if it is a genuine, unexpired link.
    pub fn open(&self, token: &str) -> Result<(EmailAddress, OffsetDateTime), PortalLinkError> {
        let claims =
            self.verifier.verify_portal_link(token).map_err(|rejected| PortalLinkError::Invalid(rejected.0))?;
        if claims.iss != self.issuer {
            return Err(PortalLinkError::Invalid("issued by another server".into()));
        }
        let expires_at = OffsetDateTime::from_unix_timestamp(claims.exp)
            .map_err(|_| PortalLinkError::Invalid("expiry out of range".into()))?;
        if self.clock.now() >= expires_at {
            return Err(PortalLinkError::Expired);
        }
        let email = EmailAddress::parse(&claims.sub).map_err(|_| PortalLinkError::Invalid("bad address".into()))?;
        Ok((email, expires_at))
    }
}
