//! Usage events and flags sent by buyers' apps (the CircuitForge design): an
//! activated machine reports what it does (`POST /v1/usage`) and raises flags
//! for the operator (`POST /v1/flags`, e.g. a suspected shared key), each
//! authenticated by the machine's lease. The operator reviews flags.

use async_trait::async_trait;
use serde_json::{json, Value};
use std::sync::Arc;
use thiserror::Error;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::{Actor, AuditEvent};
use crate::clock::{now_seconds, Clock};
use crate::issuance::LeaseVerifier;
use crate::license::{text_enum, Activation, ActivationRepository, LicenseKey};
use crate::page::{Page, PageRequest};
use crate::random::{new_id, RandomSource};
use crate::repository::RepositoryError;

/// The largest `metadata` object, serialized.
pub const MAX_METADATA_BYTES: usize = 4096;

#[derive(Debug, Clone, PartialEq)]
pub struct UsageEvent {
    pub id: Uuid,
    pub license_key: LicenseKey,
    pub activation_id: Uuid,
    /// `export.csv`, `session.start`, … (1-64 of a-z, 0-9, `_.:-`).
    pub event: String,
    /// A JSON object of at most [`MAX_METADATA_BYTES`].
    pub metadata: Value,
    pub at: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlagStatus {
    Open,
    Reviewed,
    Dismissed,
    Actioned,
}

text_enum!(FlagStatus, "flag status", {
    Open => "open", Reviewed => "reviewed", Dismissed => "dismissed", Actioned => "actioned",
});

#[derive(Debug, Clone, PartialEq)]
pub struct Flag {
    pub id: Uuid,
    pub license_key: LicenseKey,
    pub activation_id: Uuid,
    /// `shared_key`, `tamper`, … (same rule as usage event names).
    pub reason: String,
    pub message: Option<String>,
    pub metadata: Value,
    pub status: FlagStatus,
    /// What the operator did, for `actioned` (and optionally the others).
    pub action: Option<String>,
    pub created_at: OffsetDateTime,
    pub reviewed_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct UsageFilter {
    pub license_key: Option<LicenseKey>,
    pub event: Option<String>,
    pub since: Option<OffsetDateTime>,
}

impl UsageFilter {
    pub fn matches(&self, event: &UsageEvent) -> bool {
        self.license_key.as_ref().is_none_or(|key| &event.license_key == key)
            && self.event.as_ref().is_none_or(|name| &event.event == name)
            && self.since.is_none_or(|since| event.at >= since)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlagFilter {
    pub status: Option<FlagStatus>,
    pub license_key: Option<LicenseKey>,
}

impl FlagFilter {
    pub fn matches(&self, flag: &Flag) -> bool {
        self.status.is_none_or(|status| flag.status == status)
            && self.license_key.as_ref().is_none_or(|key| &flag.license_key == key)
    }
}

/// A flag review, written by [`UsageRepository::review_flag`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagReview {
    pub status: FlagStatus,
    pub action: Option<String>,
    pub at: OffsetDateTime,
}

/// Stores usage events and flags. Every method MUST return
/// `RepositoryError::Unavailable` when the store cannot be reached and
/// `RepositoryError::Unexpected` for any other failure (including a cursor
/// this store did not produce).
#[async_trait]
pub trait UsageRepository: Send + Sync + 'static {
    async fn record_usage(&self, event: &UsageEvent) -> Result<(), RepositoryError>;
    /// Newest first.
    async fn list_usage(&self, filter: &UsageFilter, page: &PageRequest) -> Result<Page<UsageEvent>, RepositoryError>;
    /// Stores the flag and its audit event atomically.
    async fn create_flag(&self, flag: &Flag, audit: &AuditEvent) -> Result<(), RepositoryError>;
    /// Newest first.
    async fn list_flags(&self, filter: &FlagFilter, page: &PageRequest) -> Result<Page<Flag>, RepositoryError>;
    async fn find_flag(&self, id: Uuid) -> Result<Option<Flag>, RepositoryError>;
    /// Writes `review` and `audit` atomically, only while the flag is `open`.
    /// MUST return `Ok(false)` and write nothing otherwise (or when there is no such flag).
    async fn review_flag(&self, id: Uuid, review: &FlagReview, audit: &AuditEvent) -> Result<bool, RepositoryError>;
}

#[derive(Debug, Error)]
pub enum ReportError {
    /// No lease, or not one of ours (signature, type), or expired past its grace.
    #[error("invalid lease: {0}")]
    InvalidLease(String),
    /// The lease's machine was deactivated, or its license is no longer active.
    #[error("this machine is not activated")]
    NoMachine,
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

#[derive(Debug, Error)]
pub enum ReviewFlagError {
    #[error("no flag {0}")]
    NotFound(Uuid),
    #[error("flag {id} was already {status}")]
    AlreadyReviewed { id: Uuid, status: &'static str },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

fn check_name(field: &str, name: &str) -> Result<(), ReportError> {
    let valid = (1..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.:-".contains(&b));
    if valid {
        Ok(())
    } else {
        Err(ReportError::Invalid(format!("{field} is 1-64 characters of a-z, 0-9, '_', '.', ':' or '-'")))
    }
}

fn check_metadata(metadata: Option<Value>) -> Result<Value, ReportError> {
    let metadata = metadata.unwrap_or_else(|| json!({}));
    if !metadata.is_object() {
        return Err(ReportError::Invalid("metadata must be a JSON object".into()));
    }
    if metadata.to_string().len() > MAX_METADATA_BYTES {
        return Err(ReportError::Invalid(format!("metadata is larger than {MAX_METADATA_BYTES} bytes")));
    }
    Ok(metadata)
}

pub struct UsageService {
    usage: Arc<dyn UsageRepository>,
    activations: Arc<dyn ActivationRepository>,
    leases: Arc<dyn LeaseVerifier>,
    clock: Arc<dyn Clock>,
    random: Arc<dyn RandomSource>,
}

impl UsageService {
    pub fn new(
        usage: Arc<dyn UsageRepository>,
        activations: Arc<dyn ActivationRepository>,
        leases: Arc<dyn LeaseVerifier>,
        clock: Arc<dyn Clock>,
        random: Arc<dyn RandomSource>,
    ) -> Self {
        Self { usage, activations, leases, clock, random }
    }

    /// The machine behind `lease`: signed by us, within its lease or grace, and
    /// still holding a seat of an active license.
    async fn machine(&self, lease: &str, now: OffsetDateTime) -> Result<(LicenseKey, Activation), ReportError> {
        let claims = self.leases.verify_lease(lease.trim()).map_err(|error| ReportError::InvalidLease(error.0))?;
        let grace_ends = claims.exp + i64::from(claims.grace_days) * 86_400;
        if now.unix_timestamp() >= grace_ends {
            return Err(ReportError::InvalidLease("the lease and its grace period have ended; check in first".into()));
        }
        let id = Uuid::parse_str(&claims.jti).map_err(|_| ReportError::InvalidLease("malformed jti".into()))?;
        let view = self.activations.find_by_activation(id).await?.ok_or(ReportError::NoMachine)?;
        let activation = view.activation.filter(Activation::is_live).ok_or(ReportError::NoMachine)?;
        if view.license.status_at(now) != crate::license::LicenseStatus::Active {
            return Err(ReportError::NoMachine);
        }
        Ok((view.license.key, activation))
    }

    pub async fn record_usage(
        &self,
        lease: &str,
        event: &str,
        metadata: Option<Value>,
    ) -> Result<UsageEvent, ReportError> {
        check_name("event", event)?;
        let metadata = check_metadata(metadata)?;
        let now = now_seconds(self.clock.as_ref());
        let (license_key, activation) = self.machine(lease, now).await?;
        let recorded = UsageEvent {
            id: new_id(self.random.as_ref(), self.clock.now()),
            license_key,
            activation_id: activation.id,
            event: event.to_owned(),
            metadata,
            at: now,
        };
        self.usage.record_usage(&recorded).await?;
        Ok(recorded)
    }

    pub async fn raise_flag(
        &self,
        lease: &str,
        reason: &str,
        message: Option<String>,
        metadata: Option<Value>,
    ) -> Result<Flag, ReportError> {
        check_name("reason", reason)?;
        if let Some(message) = &message {
            crate::text::check("message", message, 2000).map_err(ReportError::Invalid)?;
        }
        let metadata = check_metadata(metadata)?;
        let now = now_seconds(self.clock.as_ref());
        let (license_key, activation) = self.machine(lease, now).await?;
        let flag = Flag {
            id: new_id(self.random.as_ref(), self.clock.now()),
            license_key,
            activation_id: activation.id,
            reason: reason.to_owned(),
            message,
            metadata,
            status: FlagStatus::Open,
            action: None,
            created_at: now,
            reviewed_at: None,
        };
        let details =
            json!({"flag_id": flag.id.to_string(), "reason": flag.reason, "activation_id": activation.id.to_string()});
        let audit = AuditEvent::about_license(
            self.random.as_ref(),
            self.clock.now(),
            &Actor::Buyer,
            "flag.raised",
            &flag.license_key,
            details,
        );
        self.usage.create_flag(&flag, &audit).await?;
        Ok(flag)
    }

    /// Closes an open flag as `reviewed`, `dismissed` or `actioned` (which
    /// needs `action`: what was done).
    pub async fn review_flag(
        &self,
        id: Uuid,
        status: FlagStatus,
        action: Option<String>,
        actor: Actor,
    ) -> Result<Flag, ReviewFlagError> {
        let action = action.map(|text| text.trim().to_owned()).filter(|text| !text.is_empty());
        if status == FlagStatus::Open {
            return Err(ReviewFlagError::Invalid("a review sets reviewed, dismissed or actioned".into()));
        }
        if status == FlagStatus::Actioned && action.is_none() {
            return Err(ReviewFlagError::Invalid("actioned needs the action taken".into()));
        }
        if let Some(action) = &action {
            crate::text::check("action", action, 500).map_err(ReviewFlagError::Invalid)?;
        }
        let flag = self.usage.find_flag(id).await?.ok_or(ReviewFlagError::NotFound(id))?;
        let now = now_seconds(self.clock.as_ref());
        let review = FlagReview { status, action: action.clone(), at: now };
        let details = json!({"flag_id": id.to_string(), "status": status.as_str(), "action": action});
        let audit = AuditEvent::about_license(
            self.random.as_ref(),
            self.clock.now(),
            &actor,
            "flag.reviewed",
            &flag.license_key,
            details,
        );
        if !self.usage.review_flag(id, &review, &audit).await? {
            let current = self.usage.find_flag(id).await?.ok_or(ReviewFlagError::NotFound(id))?;
            return Err(ReviewFlagError::AlreadyReviewed { id, status: current.status.as_str() });
        }
        self.usage.find_flag(id).await?.ok_or(ReviewFlagError::NotFound(id))
    }

    pub async fn list_usage(
        &self,
        filter: &UsageFilter,
        page: &PageRequest,
    ) -> Result<Page<UsageEvent>, RepositoryError> {
        self.usage.list_usage(filter, page).await
    }

    pub async fn list_flags(&self, filter: &FlagFilter, page: &PageRequest) -> Result<Page<Flag>, RepositoryError> {
        self.usage.list_flags(filter, page).await
    }
}
