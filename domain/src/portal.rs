//! The buyer's self-service portal: a buyer gives an email address and gets,
//! by email, all of that address's licenses and a short-lived signed link; the
//! link shows the licenses and their machines and lets the buyer free a seat.
//!
//! The link is the buyer's only credential: a signed token naming the address
//! and when it stops working. Whether an address has licenses is never told to
//! the one who asks, only to the mailbox.

use std::sync::Arc;

use thiserror::Error;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::activation::{ActivationService, OwnedDeactivateError};
use crate::audit::Actor;
use crate::catalog::Catalog;
use crate::clock::{now_seconds, Clock};
use crate::license::{licenses_of, Activation, EmailAddress, License, LicenseRepository, LicenseState, LicenseStatus};
use crate::mail::OutboxService;
pub use crate::portal_links::{PortalLink, PortalLinkError, PortalLinks};
use crate::repository::RepositoryError;

/// Licenses expiring within this window (or expired) get a renew link.
pub const RENEWAL_WINDOW: Duration = Duration::days(30);

/// One license as the portal shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct PortalLicense {
    pub license: License,
    pub product_name: String,
    /// The tier's display name (its slug when it has none).
    pub tier_name: String,
    pub status: LicenseStatus,
    /// Live machines, oldest first.
    pub machines: Vec<Activation>,
    /// The product's storefront page, for licenses that expire within
    /// [`RENEWAL_WINDOW`] or have expired.
    pub renew_url: Option<String>,
}

/// What an opened link shows.
#[derive(Debug, Clone, PartialEq)]
pub struct PortalView {
    pub email: EmailAddress,
    pub link_expires_at: OffsetDateTime,
    /// Every license of the address that is not revoked, newest first.
    pub licenses: Vec<PortalLicense>,
}

#[derive(Debug, Error)]
pub enum OpenPortalError {
    #[error(transparent)]
    Link(#[from] PortalLinkError),
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

#[derive(Debug, Error)]
pub enum PortalDeactivateError {
    #[error(transparent)]
    Link(#[from] PortalLinkError),
    /// No such machine among the link's licenses (also: someone else's machine).
    #[error("no machine {0} among your licenses")]
    NotFound(Uuid),
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// The portal's use cases.
#[derive(Clone)]
pub struct PortalService {
    licenses: Arc<dyn LicenseRepository>,
    activation: ActivationService,
    outbox: OutboxService,
    links: PortalLinks,
    catalog: Arc<Catalog>,
    clock: Arc<dyn Clock>,
}

impl PortalService {
    pub fn new(
        licenses: Arc<dyn LicenseRepository>,
        activation: ActivationService,
        outbox: OutboxService,
        links: PortalLinks,
        catalog: Arc<Catalog>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { licenses, activation, outbox, links, catalog, clock }
    }

    async fn shown_licenses(&self, email: &EmailAddress) -> Result<Vec<License>, RepositoryError> {
        let now = now_seconds(self.clock.as_ref());
        let mut licenses = licenses_of(self.licenses.as_ref(), email, now).await?;
        licenses.retain(|license| license.state != LicenseState::Revoked);
        Ok(licenses)
    }

    /// Queues the portal email when `email` has licenses that are not revoked.
    /// The answer is for tests and logs only: the buyer must be told the same
    /// either way.
    pub async fn request_licenses(&self, email: &EmailAddress) -> Result<bool, RepositoryError> {
        if self.shown_licenses(email).await?.is_empty() {
            return Ok(false);
        }
        self.outbox.queue_portal(email, Actor::Buyer).await?;
        Ok(true)
    }

    /// The licenses and machines behind a portal link.
    pub async fn open(&self, token: &str) -> Result<PortalView, OpenPortalError> {
        let (email, link_expires_at) = self.links.open(token)?;
        let now = now_seconds(self.clock.as_ref());
        let mut shown = Vec::new();
        for license in self.shown_licenses(&email).await? {
            let product = self.catalog.product(&license.product);
            let renewable = license.expires_at.is_some_and(|at| at - now <= RENEWAL_WINDOW);
            shown.push(PortalLicense {
                product_name: product.map_or_else(|| license.product.clone(), |product| product.name.clone()),
                tier_name: product
                    .and_then(|product| product.tier(&license.tier))
                    .map_or_else(|| license.tier.clone(), |tier| tier.display_name().to_owned()),
                renew_url: product.and_then(|product| product.renew_url.clone()).filter(|_| renewable),
                status: license.status_at(now),
                machines: self.activation.machines(&license).await?,
                license,
            });
        }
        Ok(PortalView { email, link_expires_at, licenses: shown })
    }

    /// Frees the seat of machine `activation`, which must belong to one of the
    /// link's licenses. Counts toward the license's activation churn like any
    /// deactivation. Idempotent.
    pub async fn deactivate_machine(&self, token: &str, activation: Uuid) -> Result<Activation, PortalDeactivateError> {
        let (email, _) = self.links.open(token)?;
        self.activation.deactivate_owned(activation, &email).await.map_err(|error| match error {
            OwnedDeactivateError::NotFound(id) => PortalDeactivateError::NotFound(id),
            OwnedDeactivateError::Repository(error) => PortalDeactivateError::Repository(error),
        })
    }
}
