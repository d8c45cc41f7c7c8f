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
}

/// Reads the audit trail. Writing happens through the port that makes the change,
/// in the same transaction.
#[async_trait]
pub trait AuditLog: Send + Sync + 'static {
    /// Events matching `filter`, newest first.
    /// MUST return `RepositoryError::Unavailable` when the store cannot be reached
    /// and `RepositoryError::Unexpected` for anything else (including a cursor
    /// this store did not produce).
    async fn list_audit(&self, filter: &AuditFilter, page: &PageRequest) -> Result<Page<AuditEvent>, RepositoryError>;
}
