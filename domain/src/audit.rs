//! Who changed what, and when. Every state change writes one [`AuditEvent`] in
//! the same transaction as the change itself.

use std::fmt;

use async_trait::async_trait;
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::page::{Page, PageRequest};
use crate::repository::RepositoryError;

/// Who caused a change.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Actor {
    /// The operator, through the admin API or the CLI.
    Admin,
    /// A storefront webhook, e.g. `storefront:gumroad`.
    Storefront(String),
    /// A buyer's app or the buyer's portal.
    Buyer,
    /// Tessera itself (workers, expiry).
    System,
}

impl Actor {
    /// Parses the stored form written by `Display`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "admin" => Some(Self::Admin),
            "buyer" => Some(Self::Buyer),
            "system" => Some(Self::System),
            other => other
                .strip_prefix("storefront:")
                .filter(|name| !name.is_empty())
                .map(|name| Self::Storefront(name.to_owned())),
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Admin => f.write_str("admin"),
            Self::Storefront(name) => write!(f, "storefront:{name}"),
            Self::Buyer => f.write_str("buyer"),
            Self::System => f.write_str("system"),
        }
    }
}

/// One recorded change.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub id: Uuid,
    pub at: OffsetDateTime,
    pub actor: Actor,
    /// What happened, `entity.verb`: `license.minted`, `license.revoked`, …
    pub action: String,
    /// The kind of thing changed: `license`, …
    pub entity_type: String,
    /// Its human identifier (for licenses, the key).
    pub entity_id: String,
    /// Free-form details of the change (never a secret).
    pub details: Value,
}

/// Which audit events to list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditFilter {
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub actor: Option<String>,
    pub action: Option<String>,
    pub since: Option<OffsetDateTime>,
    /// Only events before this time.
    pub until: Option<OffsetDateTime>,
}

impl AuditFilter {
    /// The same predicate the stores apply in SQL.
    pub fn matches(&self, event: &AuditEvent) -> bool {
        self.entity_type.as_ref().is_none_or(|value| &event.entity_type == value)
            && self.entity_id.as_ref().is_none_or(|value| &event.entity_id == value)
            && self.actor.as_ref().is_none_or(|value| &event.actor.to_string() == value)
            && self.action.as_ref().is_none_or(|value| &event.action == value)
            && self.since.is_none_or(|since| event.at >= since)
            && self.until.is_none_or(|until| event.at < until)
    }
}

/// Reads the audit trail. Writing happens through the port that makes the change,
/// in the same transaction; [`AuditLog::append`] is for what changes nothing
/// else (an operator signing in to the console).
#[async_trait]
pub trait AuditLog: Send + Sync + 'static {
    /// Events matching `filter`, newest first.
    /// MUST return `RepositoryError::Unavailable` when the store cannot be reached
    /// and `RepositoryError::Unexpected` for anything else (including a cursor
    /// this store did not produce).
    async fn list_audit(&self, filter: &AuditFilter, page: &PageRequest) -> Result<Page<AuditEvent>, RepositoryError>;

    /// Records `event` on its own, durably before returning.
    /// MUST return `RepositoryError::Unavailable` when the store cannot be reached
    /// and `RepositoryError::Unexpected` for anything else.
    async fn append(&self, event: &AuditEvent) -> Result<(), RepositoryError>;
}

/// Records what the operator's shells do that changes nothing else: console
/// sign-ins (and refused attempts) and sign-outs.
#[derive(Clone)]
pub struct AuditService {
    log: std::sync::Arc<dyn AuditLog>,
    clock: std::sync::Arc<dyn crate::clock::Clock>,
    random: std::sync::Arc<dyn crate::random::RandomSource>,
}

impl AuditService {
    pub fn new(
        log: std::sync::Arc<dyn AuditLog>,
        clock: std::sync::Arc<dyn crate::clock::Clock>,
        random: std::sync::Arc<dyn crate::random::RandomSource>,
    ) -> Self {
        Self { log, clock, random }
    }

    /// Appends `action` on `entity_type`/`entity_id` by `actor`, now.
    pub async fn record(
        &self,
        actor: Actor,
        action: &str,
        entity_type: &str,
        entity_id: &str,
        details: Value,
    ) -> Result<(), RepositoryError> {
        let now = self.clock.now();
        let event = AuditEvent {
            id: crate::random::new_id(self.random.as_ref(), now),
            at: crate::clock::now_seconds(self.clock.as_ref()),
            actor,
            action: action.to_owned(),
            entity_type: entity_type.to_owned(),
            entity_id: entity_id.to_owned(),
            details,
        };
        self.log.append(&event).await
    }
}
