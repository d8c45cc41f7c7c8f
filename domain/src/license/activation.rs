//! Machines holding a seat of a license, and the [`ActivationRepository`]
//! port that keeps seat limits exact under any concurrency.

use async_trait::async_trait;
use thiserror::Error;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{License, LicenseKey};
use crate::audit::AuditEvent;
use crate::repository::RepositoryError;

/// A machine's identity as the buyer's app computes it (a hash of hardware ids,
/// say). Opaque to Tessera.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fingerprint(String);

pub const MAX_FINGERPRINT_LEN: usize = 256;

#[derive(Debug, Error, PartialEq, Eq)]
#[error("a fingerprint is 1-{MAX_FINGERPRINT_LEN} visible ASCII characters")]
pub struct FingerprintError;

impl Fingerprint {
    pub fn parse(text: &str) -> Result<Self, FingerprintError> {
        if text.is_empty() || text.len() > MAX_FINGERPRINT_LEN || !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(FingerprintError);
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An app's version as it reports it, `MAJOR[.MINOR[.PATCH…]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppVersion {
    text: String,
    major: u32,
}

#[derive(Debug, Error, PartialEq, Eq)]
#[error("an app version is MAJOR[.MINOR…], at most 64 characters")]
pub struct AppVersionError;

impl AppVersion {
    pub fn parse(text: &str) -> Result<Self, AppVersionError> {
        let text = text.trim();
        let major = text.split(['.', '-', '+']).next().unwrap_or_default();
        if text.len() > 64 || !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(AppVersionError);
        }
        let major = major.strip_prefix('v').unwrap_or(major).parse().map_err(|_| AppVersionError)?;
        Ok(Self { text: text.to_owned(), major })
    }

    pub fn major(&self) -> u32 {
        self.major
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// One machine's hold on a seat.
#[derive(Debug, Clone, PartialEq)]
pub struct Activation {
    /// Time-ordered; the `jti` of the machine's leases.
    pub id: Uuid,
    pub license_id: Uuid,
    pub fingerprint: Fingerprint,
    /// What the app calls the machine (e.g. its host name), shown to the buyer.
    pub name: Option<String>,
    pub platform: Option<String>,
    pub app_version: Option<String>,
    pub activated_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
    /// `Some`: the seat was freed; the row stays as history.
    pub deactivated_at: Option<OffsetDateTime>,
}

impl Activation {
    pub fn is_live(&self) -> bool {
        self.deactivated_at.is_none()
    }
}

/// A license as a machine sees it: the license, how many seats are taken, and
/// this machine's live activation if it has one.
#[derive(Debug, Clone, PartialEq)]
pub struct MachineView {
    pub license: License,
    pub seats_used: u32,
    pub activation: Option<Activation>,
}

/// What [`ActivationRepository::take_seat`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum SeatOutcome {
    /// The new activation holds a seat; `seats_used` counts it.
    Taken { seats_used: u32 },
    /// The machine already held a seat (a concurrent activation of the same
    /// fingerprint won); nothing was written.
    AlreadyActive(Activation),
    /// Every seat is taken, or the license is no longer active; nothing was written.
    NoSeatLeft,
    /// The license reached its cap of deactivations in the churn window; nothing was written.
    ChurnLimited,
}

/// "No new seat once `limit` machines of the license were deactivated since `since`."
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChurnLimit {
    pub since: OffsetDateTime,
    pub limit: u32,
}

/// Stores activations. Seat limits MUST hold under any concurrency, across
/// processes sharing one database, without relying on `SELECT … FOR UPDATE`.
///
/// Every method MUST return `RepositoryError::Unavailable` when the store cannot
/// be reached and `RepositoryError::Unexpected` for any other storage failure.
#[async_trait]
pub trait ActivationRepository: Send + Sync + 'static {
    /// The license with `key` and, when `fingerprint` is given, that machine's
    /// live activation; `Ok(None)` when there is no such license.
    async fn find_for_machine(
        &self,
        key: &LicenseKey,
        fingerprint: Option<&Fingerprint>,
    ) -> Result<Option<MachineView>, RepositoryError>;

    /// The license holding activation `id` and that activation, live or not;
    /// `Ok(None)` when there is no such activation.
    async fn find_by_activation(&self, id: Uuid) -> Result<Option<MachineView>, RepositoryError>;

    /// Live activations of a license, oldest first.
    async fn live_activations(&self, license_id: Uuid) -> Result<Vec<Activation>, RepositoryError>;

    /// Stores `activation` (live) and `audit` atomically if the license is
    /// `active` and has a free seat, the machine holds no live seat yet and,
    /// with `churn`, fewer than `churn.limit` activations of the license were
    /// deactivated since `churn.since` — all judged in one transaction, so the
    /// limits hold under concurrency. MUST return `SeatOutcome::NoSeatLeft` when
    /// all seats are taken or the license is not `active`,
    /// `SeatOutcome::AlreadyActive` when the fingerprint already has a live
    /// activation and `SeatOutcome::ChurnLimited` over the churn cap; then nothing
    /// is written.
    async fn take_seat(
        &self,
        activation: &Activation,
        churn: Option<ChurnLimit>,
        audit: &AuditEvent,
    ) -> Result<SeatOutcome, RepositoryError>;

    /// Records that a live activation checked in. MUST return `Ok(false)` when the
    /// activation does not exist or was deactivated.
    async fn touch(&self, id: Uuid, at: OffsetDateTime, app_version: Option<&str>) -> Result<bool, RepositoryError>;

    /// Frees the seat of a live activation and stores `audit`, atomically. MUST
    /// return `Ok(false)` (writing nothing) when it was already deactivated or
    /// does not exist.
    async fn release_seat(&self, id: Uuid, at: OffsetDateTime, audit: &AuditEvent) -> Result<bool, RepositoryError>;
}
