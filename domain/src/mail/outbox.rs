//! The outbox: every email Tessera owes someone, stored before it is sent, with
//! where it stands. A delivery moves `pending` → `sending` (claimed by one
//! worker) → `sent` or `failed`, or back to `pending` for a later attempt.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::AuditEvent;
use crate::license::{text_enum, CreateLicenseError, EmailAddress, IdempotencyRecord, License, LicenseKey};
use crate::page::{Page, PageRequest};
use crate::repository::RepositoryError;

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    /// Waiting for its next attempt (`next_attempt_at`).
    Pending,
    /// Claimed by a worker that is sending it now.
    Sending,
    /// The provider accepted it.
    Sent,
    /// Given up: refused for good, too many attempts, or interrupted mid-send.
    /// The operator may retry it.
    Failed,
}

text_enum!(DeliveryStatus, "delivery status", {
    Pending => "pending", Sending => "sending", Sent => "sent", Failed => "failed",
});

/// Which email a delivery sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryKind {
    /// A newly issued license (a storefront sale, a mint with `send_email`).
    License,
    /// A license sent again on request.
    Redelivery,
    /// A buyer asked the portal: all of an address's licenses and a signed
    /// link to manage them (no `license_key`).
    Portal,
}

text_enum!(DeliveryKind, "delivery kind", { License => "license", Redelivery => "redelivery", Portal => "portal" });

/// One email owed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Time-ordered.
    pub id: Uuid,
    pub kind: DeliveryKind,
    pub license_key: Option<LicenseKey>,
    pub to: EmailAddress,
    pub status: DeliveryStatus,
    /// Attempts started so far (claims).
    pub attempts: u32,
    pub next_attempt_at: OffsetDateTime,
    pub last_error: Option<String>,
    pub provider_message_id: Option<String>,
    /// Makes queueing idempotent: one delivery per key, enforced by the store.
    pub dedupe_key: Option<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub sent_at: Option<OffsetDateTime>,
    /// While `sending`: when the worker's claim lapses.
    pub claimed_until: Option<OffsetDateTime>,
}

/// The result of queueing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enqueued {
    New(Delivery),
    /// A delivery with the same dedupe key exists; nothing was stored.
    Existing(Delivery),
}

impl Enqueued {
    pub fn delivery(&self) -> &Delivery {
        match self {
            Self::New(delivery) | Self::Existing(delivery) => delivery,
        }
    }
}

/// What one attempt came to, written by [`DeliveryRepository::settle`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryOutcome {
    /// `Sent`, `Failed`, or `Pending` for another attempt at `next_attempt_at`.
    pub status: DeliveryStatus,
    pub next_attempt_at: OffsetDateTime,
    pub last_error: Option<String>,
    pub provider_message_id: Option<String>,
    pub at: OffsetDateTime,
}

/// Which deliveries to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryFilter {
    pub status: Option<DeliveryStatus>,
    pub license_key: Option<LicenseKey>,
}

impl DeliveryFilter {
    /// The same predicate the stores apply in SQL.
    pub fn matches(&self, delivery: &Delivery) -> bool {
        self.status.is_none_or(|status| delivery.status == status)
            && self.license_key.as_ref().is_none_or(|key| delivery.license_key.as_ref() == Some(key))
    }
}

/// Stores the outbox. Every write that changes a delivery's fate stores its
/// audit event in the same transaction.
///
/// Every method MUST return `RepositoryError::Unavailable` when the store cannot
/// be reached and `RepositoryError::Unexpected` for any other storage failure.
#[async_trait]
pub trait DeliveryRepository: Send + Sync + 'static {
    /// Stores a new delivery and `audit` atomically. When another delivery has
    /// the same `dedupe_key` (also one stored concurrently), MUST store nothing
    /// and return `Enqueued::Existing` with that delivery.
    async fn enqueue(&self, delivery: &Delivery, audit: &AuditEvent) -> Result<Enqueued, RepositoryError>;

    /// Stores a new license exactly as `LicenseRepository::create` does and,
    /// in the same transaction, its first delivery and both audit events: a
    /// minted license always has its email queued. MUST return the errors
    /// `create` returns (a taken key, idempotency key or subscription) and
    /// store nothing then.
    async fn create_license_with_delivery(
        &self,
        license: &License,
        idempotency: Option<&IdempotencyRecord>,
        license_audit: &AuditEvent,
        delivery: &Delivery,
        delivery_audit: &AuditEvent,
    ) -> Result<(), CreateLicenseError>;

    /// Claims up to `limit` pending deliveries due at `now`, oldest due first:
    /// each becomes `sending` with one more attempt and `claimed_until = until`.
    /// MUST claim through a conditional update so that no two callers, in any
    /// process, ever claim the same attempt, and return only what this call claimed.
    async fn claim_due(
        &self,
        now: OffsetDateTime,
        until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<Delivery>, RepositoryError>;

    /// Writes the outcome of claimed attempt number `attempt` and `audit`,
    /// atomically. MUST write nothing and return `Ok(false)` unless the
    /// delivery is still `sending` with exactly `attempt` attempts.
    async fn settle(
        &self,
        id: Uuid,
        attempt: u32,
        outcome: &DeliveryOutcome,
        audit: &AuditEvent,
    ) -> Result<bool, RepositoryError>;

    /// Marks `failed` with `error` every `sending` delivery whose claim lapsed
    /// before `now` (its worker stopped mid-send, so the provider may or may not
    /// have it), and returns them as they were.
    async fn fail_abandoned(&self, now: OffsetDateTime, error: &str) -> Result<Vec<Delivery>, RepositoryError>;

    /// Makes a delivery in status `expected` pending and due at `now`, with
    /// `audit`, atomically. MUST return `Ok(false)` and write nothing when the
    /// delivery does not exist or is no longer in status `expected`.
    async fn reschedule(
        &self,
        id: Uuid,
        expected: DeliveryStatus,
        now: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<bool, RepositoryError>;

    /// The delivery with `id`; `Ok(None)` when there is none.
    async fn find_delivery(&self, id: Uuid) -> Result<Option<Delivery>, RepositoryError>;

    /// Deliveries matching `filter`, newest first. MUST return
    /// `RepositoryError::Unexpected` for a cursor this store did not produce.
    async fn list_deliveries(
        &self,
        filter: &DeliveryFilter,
        page: &PageRequest,
    ) -> Result<Page<Delivery>, RepositoryError>;
}
