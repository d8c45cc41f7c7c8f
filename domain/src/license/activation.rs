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
/// Visible ASCII, the rule of fingerprints and nonces, as a JSON-schema pattern.
pub const VISIBLE_ASCII_PATTERN: &str = "^[!-~]+$";
/// No control characters, the rule of platforms and machine names, as a pattern.
pub const PRINTABLE_PATTERN: &str = r"^[^\x00-\x1f\x7f]*$";
/// What [`AppVersion::parse`] accepts, as a JSON-schema pattern.
pub const APP_VERSION_PATTERN: &str = r"^\s*v?[0-9]+([.+-][!-~]*)?\s*$";
pub const MAX_APP_VERSION_LEN: usize = 64;
pub const MAX_NONCE_LEN: usize = 128;
pub const MAX_PLATFORM_LEN: usize = 64;
pub const MAX_MACHINE_NAME_LEN: usize = 100;

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

/// What an app sends to have it echoed in the signed answer, so a replayed
/// answer is told from a fresh one: 1-128 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nonce(String);

#[derive(Debug, Error, PartialEq, Eq)]
#[error("a nonce is 1-{MAX_NONCE_LEN} visible ASCII characters")]
pub struct NonceError;

impl Nonce {
    pub fn parse(text: &str) -> Result<Self, NonceError> {
        if text.is_empty() || text.len() > MAX_NONCE_LEN || !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(NonceError);
        }
        Ok(Self(text.to_owned()))
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// A short label an app gives: at most `max` characters, none a control
/// character; blank means none.
fn label(text: &str, max: usize) -> Result<Option<String>, ()> {
    if text.chars().count() > max || text.chars().any(char::is_control) {
        return Err(());
    }
    let text = text.trim();
    Ok((!text.is_empty()).then(|| text.to_owned()))
}

/// The platform an app runs on, e.g. `macos-arm64`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform(String);

#[derive(Debug, Error, PartialEq, Eq)]
#[error("a platform is at most {MAX_PLATFORM_LEN} printable characters")]
pub struct PlatformError;

impl Platform {
    /// `None` for a blank platform.
    pub fn parse(text: &str) -> Result<Option<Self>, PlatformError> {
        Ok(label(text, MAX_PLATFORM_LEN).map_err(|()| PlatformError)?.map(Self))
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// What the buyer calls a machine (e.g. its host name), shown in the portal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineName(String);

#[derive(Debug, Error, PartialEq, Eq)]
#[error("a machine name is at most {MAX_MACHINE_NAME_LEN} printable characters")]
pub struct MachineNameError;

impl MachineName {
    /// `None` for a blank name.
    pub fn parse(text: &str) -> Result<Option<Self>, MachineNameError> {
        Ok(label(text, MAX_MACHINE_NAME_LEN).map_err(|()| MachineNameError)?.map(Self))
    }

    pub fn into_string(self) -> String {
        self.0
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
        if text.len() > MAX_APP_VERSION_LEN || !text.bytes().all(|b| b.is_ascii_graphic()) {
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
    ///
    /// MUST reflect every write that returned before the call (an adapter may
    /// keep views between writes), with one exception: the activation's
    /// `last_seen_at` and `app_version` may lag behind [`Self::touch`], which
    /// no decision reads from here ([`Self::live_activations`] shows them).
    async fn find_for_machine(
        &self,
        key: &LicenseKey,
        fingerprint: Option<&Fingerprint>,
    ) -> Result<Option<MachineView>, RepositoryError>;

    /// The license holding activation `id` and that activation, live or not;
    /// `Ok(None)` when there is no such activation. Current as
    /// [`Self::find_for_machine`] is, with the same exception.
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
    /// does not exist; [`Self::find_by_activation`] then MUST show that
    /// release, even one made a moment ago by another instance.
    async fn release_seat(&self, id: Uuid, at: OffsetDateTime, audit: &AuditEvent) -> Result<bool, RepositoryError>;
}

#[cfg(test)]
mod input_tests {
    use super::*;

    #[test]
    fn each_machine_input_has_its_limits() {
        assert!(Nonce::parse("n-1").is_ok());
        for bad in ["", "has space", &"n".repeat(MAX_NONCE_LEN + 1), "tab\t"] {
            assert_eq!(Nonce::parse(bad), Err(NonceError), "{bad:?}");
        }
        assert_eq!(
            Platform::parse("  macos-arm64 ").unwrap().map(Platform::into_string).as_deref(),
            Some("macos-arm64")
        );
        assert_eq!(Platform::parse("   ").unwrap(), None, "blank is none");
        assert_eq!(Platform::parse(&"p".repeat(MAX_PLATFORM_LEN + 1)), Err(PlatformError));
        assert_eq!(Platform::parse("a\u{0}b"), Err(PlatformError));
        assert!(MachineName::parse(&"é".repeat(MAX_MACHINE_NAME_LEN)).unwrap().is_some(), "characters, not bytes");
        assert_eq!(MachineName::parse("bell\u{7}"), Err(MachineNameError));
        assert_eq!(AppVersion::parse(&format!("2.{}", "0".repeat(MAX_APP_VERSION_LEN))), Err(AppVersionError));
        assert_eq!(AppVersion::parse(" v3.1.4 ").unwrap().major(), 3);
    }
}
