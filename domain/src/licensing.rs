//! Issuing a license and, when asked, its email: one use case behind the
//! admin API's mint, the CLI, the console and every storefront sale, so "mint,
//! then queue the email once" is decided in one place.

use crate::audit::Actor;
use crate::issuance::{IssuanceService, MintError, MintLicense, Minted};
use crate::mail::{Delivery, OutboxService};
use crate::repository::RepositoryError;

/// Whether to queue the license email with the mint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LicenseEmail {
    Send,
    Skip,
}

/// A mint and what became of its email.
#[derive(Debug)]
pub struct Issued {
    pub minted: Minted,
    /// `None` when no email was asked for; `Some(Err)` when the license is
    /// minted but its email could not be queued (asking again queues it: the
    /// outbox queues a license's email once).
    pub email: Option<Result<Delivery, RepositoryError>>,
}

#[derive(Clone)]
pub struct LicensingService {
    issuance: IssuanceService,
    outbox: OutboxService,
}

impl LicensingService {
    pub fn new(issuance: IssuanceService, outbox: OutboxService) -> Self {
        Self { issuance, outbox }
    }

    /// Mints (idempotently, as [`IssuanceService::mint`]) and, with
    /// [`LicenseEmail::Send`], queues the license email — once per license,
    /// also when the mint is a replay, so a retry heals an email that could
    /// not be queued the first time.
    pub async fn issue(&self, request: MintLicense, email: LicenseEmail, actor: Actor) -> Result<Issued, MintError> {
        let minted = self.issuance.mint(request, actor.clone()).await?;
        let email = match email {
            LicenseEmail::Skip => None,
            LicenseEmail::Send => {
                Some(self.outbox.queue_issued(&minted.license, actor).await.map(|enqueued| enqueued.delivery().clone()))
            }
        };
        Ok(Issued { minted, email })
    }
}
