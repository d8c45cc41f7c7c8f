//! The outbox use cases: queue a license email, redeliver, retry, and work
//! through due deliveries.
//!
//! At most once per delivery: a worker claims an attempt with a conditional
//! update before sending, so two workers (in any number of server processes)
//! never send the same attempt. A worker that stops between the provider's
//! acceptance and recording it leaves its claim to lapse; such a delivery is
//! marked failed ("interrupted"), never sent again by itself, and the operator
//! decides. The one remaining double-send window is a provider that accepted an
//! email but answered too late (a timeout): that attempt counts as transient
//! and is retried.

use std::sync::Arc;

use serde_json::json;
use thiserror::Error;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::{
    compose, compose_portal, Delivery, DeliveryFilter, DeliveryKind, DeliveryOutcome, DeliveryRepository,
    DeliveryStatus, Email, Enqueued, MailSettings, Mailer, Names, PortalEntry, SendError,
};
use crate::audit::{Actor, AuditEvent};
use crate::catalog::Catalog;
use crate::clock::{now_seconds, Clock};
use crate::license::{
    licenses_of, CreateLicenseError, EmailAddress, IdempotencyRecord, License, LicenseKey, LicenseRepository,
    LicenseState, LicenseStatus,
};
use crate::page::{Page, PageRequest};
use crate::portal_links::PortalLinks;
use crate::random::{new_id, RandomSource};
use crate::repository::RepositoryError;

/// How transient failures are retried: the n-th retry waits
/// `initial · 2^(n-1)`, at most `max_delay`; after `max_attempts` attempts
/// the delivery fails. A misconfigured provider is retried every `max_delay`
/// without giving up: fixing the configuration must not lose email.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub initial_delay: Duration,
    pub max_delay: Duration,
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { initial_delay: Duration::seconds(30), max_delay: Duration::hours(1), max_attempts: 12 }
    }
}

impl RetryPolicy {
    /// The wait after attempt number `attempt` (1-based) failed transiently.
    pub fn delay_after(&self, attempt: u32) -> Duration {
        // Past 2^20 doublings every sane maximum has long been reached.
        let doublings = attempt.saturating_sub(1).min(20);
        let delay = self.initial_delay.checked_mul(1 << doublings).unwrap_or(self.max_delay);
        delay.min(self.max_delay)
    }
}

/// How long a worker's claim on a delivery lasts; longer than any send may take.
const CLAIM: Duration = Duration::minutes(2);
/// The error left on a delivery whose worker stopped mid-send.
const INTERRUPTED: &str = "interrupted while sending: the provider may or may not have accepted it, so it is \
                           not sent again automatically; check the provider's activity and retry if needed";

#[derive(Debug, Error)]
pub enum QueueError {
    #[error("no license with key {0}")]
    NotFound(LicenseKey),
    #[error("license {0} is revoked; it is not sent")]
    Revoked(LicenseKey),
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

#[derive(Debug, Error)]
pub enum RetryDeliveryError {
    #[error("no delivery {0}")]
    NotFound(Uuid),
    #[error("delivery {id} is {status}; only pending and failed deliveries can be retried")]
    NotRetryable { id: Uuid, status: DeliveryStatus },
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// What one pass over the due deliveries did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryRun {
    pub sent: u32,
    /// Will be tried again.
    pub deferred: u32,
    pub failed: u32,
    /// Found abandoned by a stopped worker and marked failed.
    pub interrupted: Vec<Uuid>,
    /// The provider refused our credentials: the operator must act.
    pub misconfigured: Option<String>,
}

#[derive(Clone)]
pub struct OutboxService {
    deliveries: Arc<dyn DeliveryRepository>,
    licenses: Arc<dyn LicenseRepository>,
    mailer: Arc<dyn Mailer>,
    clock: Arc<dyn Clock>,
    random: Arc<dyn RandomSource>,
    catalog: Arc<Catalog>,
    settings: MailSettings,
    policy: RetryPolicy,
    links: PortalLinks,
}

/// What the outbox is built from.
pub struct OutboxDeps {
    pub deliveries: Arc<dyn DeliveryRepository>,
    /// Read when an email is rendered, so it carries the license as it is then.
    pub licenses: Arc<dyn LicenseRepository>,
    pub mailer: Arc<dyn Mailer>,
    pub clock: Arc<dyn Clock>,
    pub random: Arc<dyn RandomSource>,
    pub catalog: Arc<Catalog>,
    pub settings: MailSettings,
    pub retry: RetryPolicy,
    /// Signs the portal link of portal emails.
    pub links: PortalLinks,
}

impl OutboxService {
    #[allow(clippy::too_many_arguments)]
    pub fn new(deps: OutboxDeps) -> Self {
        let OutboxDeps { deliveries, licenses, mailer, clock, random, catalog, settings, retry, links } = deps;
        Self { deliveries, licenses, mailer, clock, random, catalog, settings, policy: retry, links }
    }

    fn now(&self) -> OffsetDateTime {
        now_seconds(self.clock.as_ref())
    }

    fn audit(&self, actor: &Actor, action: &str, delivery: &Delivery, details: serde_json::Value) -> AuditEvent {
        let (entity_type, entity_id) = match &delivery.license_key {
            Some(key) => ("license", key.to_string()),
            None => ("delivery", delivery.id.to_string()),
        };
        let mut details = details;
        details["delivery_id"] = json!(delivery.id.to_string());
        details["to"] = json!(delivery.to.as_str());
        AuditEvent {
            id: new_id(self.random.as_ref(), self.clock.now()),
            at: self.now(),
            actor: actor.clone(),
            action: action.to_owned(),
            entity_type: entity_type.to_owned(),
            entity_id,
            details,
        }
    }

    /// Queues the email of a newly issued license, once per license however
    /// often it is asked (a redelivered webhook, a replayed mint).
    pub async fn queue_issued(&self, license: &License, actor: Actor) -> Result<Enqueued, RepositoryError> {
        self.queue(license, DeliveryKind::License, Some(format!("license:{}:issued", license.id)), actor).await
    }

    /// Queues the license's email again, to its current address. Refuses a
    /// revoked license.
    pub async fn redeliver(&self, key: &LicenseKey, actor: Actor) -> Result<Delivery, QueueError> {
        let license = self.licenses.find_by_key(key).await?.ok_or_else(|| QueueError::NotFound(key.clone()))?;
        if license.state == LicenseState::Revoked {
            return Err(QueueError::Revoked(key.clone()));
        }
        Ok(self.queue(&license, DeliveryKind::Redelivery, None, actor).await?.delivery().clone())
    }

    /// Queues the portal email to `to`: its licenses, rendered when sent, and
    /// a link that is signed then (so it lives its full lifetime in the inbox).
    pub async fn queue_portal(&self, to: &EmailAddress, actor: Actor) -> Result<Delivery, RepositoryError> {
        Ok(self.enqueue(DeliveryKind::Portal, None, to, None, actor).await?.delivery().clone())
    }

    async fn queue(
        &self,
        license: &License,
        kind: DeliveryKind,
        dedupe_key: Option<String>,
        actor: Actor,
    ) -> Result<Enqueued, RepositoryError> {
        self.enqueue(kind, Some(license.key.clone()), &license.email, dedupe_key, actor).await
    }

    /// Stores a new license with its license email queued, in one
    /// transaction (see `DeliveryRepository::create_license_with_delivery`);
    /// the delivery stored.
    pub async fn create_license_with_email(
        &self,
        license: &License,
        idempotency: Option<&IdempotencyRecord>,
        license_audit: &AuditEvent,
        actor: &Actor,
    ) -> Result<Delivery, CreateLicenseError> {
        let (delivery, audit) = self.first_license_email(license, actor);
        self.deliveries.create_license_with_delivery(license, idempotency, license_audit, &delivery, &audit).await?;
        Ok(delivery)
    }

    /// The first email of a new license, pending and due now, and its
    /// `delivery.queued` audit event; deduped on the license like
    /// [`Self::queue_issued`].
    pub(crate) fn first_license_email(&self, license: &License, actor: &Actor) -> (Delivery, AuditEvent) {
        let dedupe_key = Some(format!("license:{}:issued", license.id));
        self.new_delivery(DeliveryKind::License, Some(license.key.clone()), &license.email, dedupe_key, actor)
    }

    async fn enqueue(
        &self,
        kind: DeliveryKind,
        license_key: Option<LicenseKey>,
        to: &EmailAddress,
        dedupe_key: Option<String>,
        actor: Actor,
    ) -> Result<Enqueued, RepositoryError> {
        let (delivery, audit) = self.new_delivery(kind, license_key, to, dedupe_key, &actor);
        self.deliveries.enqueue(&delivery, &audit).await
    }

    /// A pending delivery due now and its `delivery.queued` audit event.
    fn new_delivery(
        &self,
        kind: DeliveryKind,
        license_key: Option<LicenseKey>,
        to: &EmailAddress,
        dedupe_key: Option<String>,
        actor: &Actor,
    ) -> (Delivery, AuditEvent) {
        let now = self.now();
        let delivery = Delivery {
            id: new_id(self.random.as_ref(), self.clock.now()),
            kind,
            license_key,
            to: to.clone(),
            status: DeliveryStatus::Pending,
            attempts: 0,
            next_attempt_at: now,
            last_error: None,
            provider_message_id: None,
            dedupe_key,
            created_at: now,
            updated_at: now,
            sent_at: None,
            claimed_until: None,
        };
        let audit = self.audit(actor, "delivery.queued", &delivery, json!({ "kind": kind.as_str() }));
        (delivery, audit)
    }

    pub async fn get(&self, id: Uuid) -> Result<Option<Delivery>, RepositoryError> {
        self.deliveries.find_delivery(id).await
    }

    pub async fn list(&self, filter: &DeliveryFilter, page: &PageRequest) -> Result<Page<Delivery>, RepositoryError> {
        self.deliveries.list_deliveries(filter, page).await
    }

    /// Makes a failed or waiting delivery due now.
    pub async fn retry(&self, id: Uuid, actor: Actor) -> Result<Delivery, RetryDeliveryError> {
        let delivery = self.deliveries.find_delivery(id).await?.ok_or(RetryDeliveryError::NotFound(id))?;
        let status = delivery.status;
        if !matches!(status, DeliveryStatus::Failed | DeliveryStatus::Pending) {
            return Err(RetryDeliveryError::NotRetryable { id, status });
        }
        let audit = self.audit(&actor, "delivery.retried", &delivery, json!({ "previous_status": status.as_str() }));
        if !self.deliveries.reschedule(id, status, self.now(), &audit).await? {
            let now = self.deliveries.find_delivery(id).await?.ok_or(RetryDeliveryError::NotFound(id))?;
            return Err(RetryDeliveryError::NotRetryable { id, status: now.status });
        }
        self.deliveries.find_delivery(id).await?.ok_or(RetryDeliveryError::NotFound(id))
    }

    /// One pass: settles deliveries abandoned by stopped workers, then claims
    /// up to `limit` due deliveries and sends them side by side. Each
    /// delivery is claimed, sent and settled on its own, as alone; together,
    /// their settles reach the store at once instead of one after another,
    /// which under a burst of sales is what kept emails behind (each settle
    /// waits its turn behind the sales' writes).
    pub async fn deliver_due(&self, limit: u32) -> Result<DeliveryRun, RepositoryError> {
        let mut run = DeliveryRun::default();
        let now = self.now();
        run.interrupted = self.deliveries.fail_abandoned(now, INTERRUPTED).await?.into_iter().map(|d| d.id).collect();
        let claimed = self.deliveries.claim_due(now, now + CLAIM, limit).await?;
        let attempts = futures_util::future::join_all(claimed.iter().map(|delivery| self.attempt(delivery))).await;
        for attempt in attempts {
            let (status, misconfigured) = attempt?;
            run.misconfigured = misconfigured.or(run.misconfigured);
            match status {
                DeliveryStatus::Sent => run.sent += 1,
                DeliveryStatus::Failed => run.failed += 1,
                _ => run.deferred += 1,
            }
        }
        Ok(run)
    }

    /// One claimed delivery: rendered, sent, settled. Answers what it came to
    /// and, when the provider refused our credentials, why.
    async fn attempt(&self, delivery: &Delivery) -> Result<(DeliveryStatus, Option<String>), RepositoryError> {
        let (outcome, misconfigured) = match self.render(delivery).await {
            Ok(email) => self.send(delivery, &email).await,
            Err(outcome) => (outcome, None),
        };
        let (action, mut details) = match outcome.status {
            DeliveryStatus::Sent => ("delivery.sent", json!({ "provider_message_id": outcome.provider_message_id })),
            DeliveryStatus::Failed => ("delivery.failed", json!({ "error": outcome.last_error })),
            _ => ("delivery.deferred", json!({ "error": outcome.last_error })),
        };
        details["attempt"] = json!(delivery.attempts);
        let audit = self.audit(&Actor::System, action, delivery, details);
        // `false`: the claim lapsed and the delivery was settled as interrupted meanwhile.
        self.deliveries.settle(delivery.id, delivery.attempts, &outcome, &audit).await?;
        Ok((outcome.status, misconfigured))
    }

    /// The email of a claimed delivery, rendered from the license as it is now;
    /// or, when it must not or cannot be sent now, the attempt's outcome.
    async fn render(&self, delivery: &Delivery) -> Result<Email, DeliveryOutcome> {
        let now = self.now();
        if delivery.kind == DeliveryKind::Portal {
            return self.render_portal(delivery, now).await;
        }
        let license = match &delivery.license_key {
            Some(key) => self.licenses.find_by_key(key).await,
            None => Ok(None),
        };
        let license = match license {
            Ok(Some(license)) if license.state == LicenseState::Revoked => {
                return Err(failed(now, "the license was revoked before sending"))
            }
            Ok(Some(license)) => license,
            Ok(None) => return Err(failed(now, "the license no longer exists")),
            Err(error) => return Err(self.transient(delivery, now, format!("reading the license: {error}"))),
        };
        let names = self.names(&license);
        Ok(compose(&license, &delivery.to, &names, delivery.kind, &self.settings, &delivery.id.to_string()))
    }

    /// The product's and tier's configured names (their slugs when no longer configured).
    fn names<'a>(&'a self, license: &'a License) -> Names<'a> {
        let product = self.catalog.product(&license.product);
        let tier = product.and_then(|product| product.tier(&license.tier));
        Names {
            product: product.map_or(license.product.as_str(), |product| product.name.as_str()),
            tier: tier.map_or(license.tier.as_str(), |tier| tier.display_name()),
        }
    }

    /// The portal email: the address's active licenses as they are now and a
    /// freshly signed link.
    async fn render_portal(&self, delivery: &Delivery, now: OffsetDateTime) -> Result<Email, DeliveryOutcome> {
        let licenses = match licenses_of(self.licenses.as_ref(), &delivery.to, now).await {
            Ok(licenses) => licenses,
            Err(error) => return Err(self.transient(delivery, now, format!("reading the licenses: {error}"))),
        };
        if licenses.iter().all(|license| license.state == LicenseState::Revoked) {
            return Err(failed(now, "the address has no licenses any more"));
        }
        let link = self.links.issue(&delivery.to).map_err(|error| failed(now, &error.to_string()))?;
        let url = format!("{}/licenses?token={}", self.settings.portal_url(), link.token);
        let entries: Vec<PortalEntry<'_>> = licenses
            .iter()
            .filter(|license| license.status_at(now) == LicenseStatus::Active)
            .map(|license| PortalEntry { license, names: self.names(license) })
            .collect();
        Ok(compose_portal(&entries, &delivery.to, &url, link.expires_at, &self.settings, &delivery.id.to_string()))
    }

    /// Sends `email` and decides what comes next; the second value is the
    /// error when the provider refused our configuration.
    async fn send(&self, delivery: &Delivery, email: &Email) -> (DeliveryOutcome, Option<String>) {
        let now = self.now();
        let outcome = |status, next_attempt_at, last_error, provider_message_id| DeliveryOutcome {
            status,
            next_attempt_at,
            last_error,
            provider_message_id,
            at: now,
        };
        match self.mailer.send(email).await {
            Ok(sent) => (outcome(DeliveryStatus::Sent, now, None, sent.provider_message_id), None),
            Err(SendError::Rejected(reason)) => (outcome(DeliveryStatus::Failed, now, Some(reason), None), None),
            Err(error @ SendError::Misconfigured(_)) => {
                let error = error.to_string();
                let waiting = outcome(DeliveryStatus::Pending, now + self.policy.max_delay, Some(error.clone()), None);
                (waiting, Some(error))
            }
            Err(SendError::Transient(reason)) => (self.transient(delivery, now, reason), None),
        }
    }

    fn transient(&self, delivery: &Delivery, now: OffsetDateTime, reason: String) -> DeliveryOutcome {
        let (status, next, error) = if delivery.attempts >= self.policy.max_attempts {
            (DeliveryStatus::Failed, now, format!("gave up after {} attempts: {reason}", delivery.attempts))
        } else {
            (DeliveryStatus::Pending, now + self.policy.delay_after(delivery.attempts), reason)
        };
        DeliveryOutcome { status, next_attempt_at: next, last_error: Some(error), provider_message_id: None, at: now }
    }
}

/// The outcome of an attempt that must not be retried.
fn failed(now: OffsetDateTime, error: &str) -> DeliveryOutcome {
    DeliveryOutcome {
        status: DeliveryStatus::Failed,
        next_attempt_at: now,
        last_error: Some(error.to_owned()),
        provider_message_id: None,
        at: now,
    }
}
