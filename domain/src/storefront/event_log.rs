//! The raw event log: every authenticated storefront delivery, stored as
//! received before anything acts on it, then marked with what processing found.

use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::AuditEvent;
use crate::license::{CreateLicenseError, IdempotencyRecord, License};
use crate::mail::Delivery;
use crate::page::{Page, PageRequest};
use crate::repository::RepositoryError;

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventStatus {
    /// Stored, not processed yet (or processing was cut short).
    Received,
    /// Acted on (a license minted, revoked, …).
    Processed,
    /// Processing failed; `error` says why. Replayable.
    Failed,
    /// A well-formed event Tessera deliberately does not act on.
    Ignored,
    /// The same event was processed before; nothing changed.
    Duplicate,
}

impl EventStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::Processed => "processed",
            Self::Failed => "failed",
            Self::Ignored => "ignored",
            Self::Duplicate => "duplicate",
        }
    }
}

impl fmt::Display for EventStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventStatus {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        [Self::Received, Self::Processed, Self::Failed, Self::Ignored, Self::Duplicate]
            .into_iter()
            .find(|status| status.as_str() == text)
            .ok_or_else(|| format!("unknown event status `{text}`"))
    }
}

/// One delivery as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEvent {
    /// Time-ordered.
    pub id: Uuid,
    pub storefront: String,
    pub received_at: OffsetDateTime,
    /// The query string without secrets.
    pub query: String,
    /// The exact body bytes.
    pub body: Vec<u8>,
    pub status: EventStatus,
    /// Set once parsed: the event kind and its dedupe key.
    pub kind: Option<String>,
    pub dedupe_key: Option<String>,
    pub error: Option<String>,
    /// The license the event produced or changed.
    pub license_key: Option<String>,
    /// How many times processing ran (replays included).
    pub attempts: u32,
    pub processed_at: Option<OffsetDateTime>,
}

/// What processing found, written by [`StorefrontEventLog::finish`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventOutcome {
    pub status: EventStatus,
    pub kind: Option<String>,
    pub dedupe_key: Option<String>,
    pub error: Option<String>,
    pub license_key: Option<String>,
    pub processed_at: OffsetDateTime,
}

/// Which recorded events to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    pub storefront: Option<String>,
    pub status: Option<EventStatus>,
}

/// What [`StorefrontEventLog::create_license_and_finish`] stores at once.
pub struct FinishedSale<'a> {
    pub license: &'a License,
    pub idempotency: Option<&'a IdempotencyRecord>,
    pub license_audit: &'a AuditEvent,
    pub delivery: &'a Delivery,
    pub delivery_audit: &'a AuditEvent,
    pub event_id: Uuid,
    pub outcome: &'a EventOutcome,
    pub outcome_audit: &'a AuditEvent,
}

/// Stores storefront deliveries.
///
/// Every method MUST return `RepositoryError::Unavailable` when the store cannot
/// be reached and `RepositoryError::Unexpected` for any other storage failure.
#[async_trait]
pub trait StorefrontEventLog: Send + Sync + 'static {
    /// Stores `event` durably, in its own transaction, before any processing.
    async fn record(&self, event: &RecordedEvent) -> Result<(), RepositoryError>;

    /// Writes the outcome of one processing attempt, counts the attempt and
    /// stores `audit`, atomically. MUST return `Ok(false)` and write nothing
    /// when no event has this id.
    async fn finish(&self, id: Uuid, outcome: &EventOutcome, audit: &AuditEvent) -> Result<bool, RepositoryError>;

    /// Stores a sale's new license with its first email, and the outcome of
    /// the event that sold it, in one transaction: a minted sale is never
    /// left `received`, and it costs one write fewer. MUST return what
    /// `LicenseRepository::create` returns for a taken key, idempotency key
    /// or subscription, having stored nothing.
    async fn create_license_and_finish(&self, sale: &FinishedSale<'_>) -> Result<(), CreateLicenseError>;

    /// The event with `id`; `Ok(None)` when there is none.
    async fn find_event(&self, id: Uuid) -> Result<Option<RecordedEvent>, RepositoryError>;

    /// Events matching `filter`, newest first. MUST return
    /// `RepositoryError::Unexpected` for a cursor this store did not produce.
    async fn list_events(
        &self,
        filter: &EventFilter,
        page: &PageRequest,
    ) -> Result<Page<RecordedEvent>, RepositoryError>;
}
