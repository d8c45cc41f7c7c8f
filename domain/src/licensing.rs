//! Issuing a license and, when asked, its email: one use case behind the
//! admin API's mint, the CLI, the console and every storefront sale, so "mint,
//! then queue the email once" is decided in one place.

use crate::audit::{Actor, AuditEvent};
use crate::issuance::{IssuanceService, MintError, MintLicense, Minted, NewLicenseWriter};
use crate::license::{CreateLicenseError, IdempotencyRecord, License};
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
    /// `None` when no email was asked for. A new license is stored with its
    /// email queued in one transaction; `Some(Err)` only for a replayed mint
    /// whose first email is missing and could not be queued now (asking again
    /// queues it: the outbox queues a license's email once).
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

    /// The outbox the license emails go through.
    pub(crate) fn outbox(&self) -> &OutboxService {
        &self.outbox
    }

    /// Mints (idempotently, as [`IssuanceService::mint`]) and, with
    /// [`LicenseEmail::Send`], queues the license email — once per license,
    /// also when the mint is a replay, so a retry heals an email that could
    /// not be queued the first time.
    pub async fn issue(&self, request: MintLicense, email: LicenseEmail, actor: Actor) -> Result<Issued, MintError> {
        if email == LicenseEmail::Skip {
            let minted = self.issuance.mint(request, actor).await?;
            return Ok(Issued { minted, email: None });
        }
        // A new license and its email in one transaction: never minted without it.
        let writer = WithItsEmail { outbox: &self.outbox, actor: &actor };
        let (minted, delivery) = self.issuance.mint_with(request, actor.clone(), &writer).await?;
        let email = match delivery {
            Some(delivery) => Ok(delivery),
            // A replay: queue it if the first mint's email is missing (the
            // outbox queues a license's email once).
            None => self.outbox.queue_issued(&minted.license, actor).await.map(|enqueued| enqueued.delivery().clone()),
        };
        Ok(Issued { minted, email: Some(email) })
    }
}

/// A new license stored with its license email queued, in one transaction.
struct WithItsEmail<'a> {
    outbox: &'a OutboxService,
    actor: &'a Actor,
}

#[async_trait::async_trait]
impl NewLicenseWriter for WithItsEmail<'_> {
    type Stored = Delivery;

    async fn create(
        &self,
        license: &License,
        idempotency: Option<&IdempotencyRecord>,
        audit: &AuditEvent,
    ) -> Result<Delivery, CreateLicenseError> {
        self.outbox.create_license_with_email(license, idempotency, audit, self.actor).await
    }
}
