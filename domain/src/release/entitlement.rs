//! Which releases a license may use. One rule for downloads, update feeds and
//! `/v1/validate`:
//!
//! - the release is of the license's product, published, on a channel the
//!   tier offers, and of a major version the license (or else its tier) allows;
//! - a revoked or suspended license may use nothing;
//! - an expired license may use nothing — unless its tier sets
//!   `perpetual_fallback`, and then it keeps every release published while
//!   it was valid ("buy once, keep what you got, pay for newer versions").

use time::OffsetDateTime;

use super::{Channel, Release, ReleaseStatus};
use crate::catalog::Tier;
use crate::license::{License, LicenseStatus};

/// Why a license may not use a release; each maps to a response code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Another product's release, or one not (or no longer) published.
    NotOffered,
    Revoked,
    Suspended,
    /// Expired, and the release is newer than the license (or the tier has no fallback).
    Expired,
    /// The license's tier does not cover this major version.
    VersionMismatch,
    /// The tier does not offer this channel.
    ChannelNotIncluded,
}

impl Refusal {
    /// The response code (`403 {code}`), as `/v1/validate` spells its refusals.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::NotOffered => "NOT_FOUND",
            Refusal::Revoked => "REVOKED",
            Refusal::Suspended => "SUSPENDED",
            Refusal::Expired => "EXPIRED",
            Refusal::VersionMismatch => "VERSION_MISMATCH",
            Refusal::ChannelNotIncluded => "CHANNEL_NOT_INCLUDED",
        }
    }
}

/// The major versions a license may run: its own list, else its tier's.
pub fn allows_major_version(license: &License, tier: Option<&Tier>, major: u32) -> bool {
    match &license.app_versions {
        Some(versions) => versions.contains(&major),
        None => tier.is_none_or(|tier| tier.allows_major_version(major)),
    }
}

/// Whether an expired license still covers a release published at
/// `published_at`: its tier has perpetual fallback and the release came out
/// while the license was valid.
pub fn fallback_covers(license: &License, tier: Option<&Tier>, published_at: OffsetDateTime) -> bool {
    tier.is_some_and(|tier| tier.downloads.perpetual_fallback)
        && license.expires_at.is_some_and(|expired_at| published_at <= expired_at)
}

/// Whether the tier offers `channel` (every channel when it lists none).
pub fn offers_channel(tier: Option<&Tier>, channel: &Channel) -> bool {
    tier.and_then(|tier| tier.downloads.channels.as_ref())
        .is_none_or(|channels| channels.iter().any(|offered| offered == channel.as_str()))
}

/// A refusal that holds whatever the release: a revoked or suspended license
/// may use nothing (an expired one may keep some, see [`fallback_covers`]).
pub fn standing_refusal(license: &License, now: OffsetDateTime) -> Option<Refusal> {
    match license.status_at(now) {
        LicenseStatus::Revoked => Some(Refusal::Revoked),
        LicenseStatus::Suspended => Some(Refusal::Suspended),
        LicenseStatus::Active | LicenseStatus::Expired => None,
    }
}

/// The rule itself: `Ok` when `license` may download and run `release` at `now`.
pub fn may_use(license: &License, tier: Option<&Tier>, release: &Release, now: OffsetDateTime) -> Result<(), Refusal> {
    if release.product != license.product || release.status != ReleaseStatus::Published {
        return Err(Refusal::NotOffered);
    }
    match license.status_at(now) {
        LicenseStatus::Active => {}
        LicenseStatus::Revoked => return Err(Refusal::Revoked),
        LicenseStatus::Suspended => return Err(Refusal::Suspended),
        LicenseStatus::Expired => {
            let published_at = release.published_at.unwrap_or(release.created_at);
            if !fallback_covers(license, tier, published_at) {
                return Err(Refusal::Expired);
            }
        }
    }
    if !allows_major_version(license, tier, release.version.major()) {
        return Err(Refusal::VersionMismatch);
    }
    if !offers_channel(tier, &release.channel) {
        return Err(Refusal::ChannelNotIncluded);
    }
    Ok(())
}

/// The newest of `releases` that `license` may use (prereleases only when
/// their channel was asked for), with the refusal of the newest one otherwise
/// — so a buyer is told why (expired, wrong version) rather than "nothing".
pub fn newest_usable<'a>(
    license: &License,
    tier: Option<&Tier>,
    releases: impl IntoIterator<Item = &'a Release>,
    now: OffsetDateTime,
) -> Result<&'a Release, Refusal> {
    let mut candidates: Vec<&Release> = releases.into_iter().collect();
    candidates.sort_by(|a, b| b.version.cmp(&a.version));
    let mut first_refusal = None;
    for release in candidates {
        match may_use(license, tier, release, now) {
            Ok(()) => return Ok(release),
            Err(refusal) => {
                first_refusal.get_or_insert(refusal);
            }
        }
    }
    Err(first_refusal.unwrap_or(Refusal::NotOffered))
}
