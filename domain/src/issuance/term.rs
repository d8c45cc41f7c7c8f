//! How long a license runs: the rules that turn a mint or renew request and the
//! tier's defaults into a kind and an expiry.

use time::{Duration, OffsetDateTime};

use crate::catalog::Tier;
use crate::license::{LicenseKind, MAX_DURATION_DAYS};

/// The requested term, before the tier's defaults apply.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RequestedTerm {
    pub kind: Option<LicenseKind>,
    pub duration_days: Option<u32>,
    pub expires_at: Option<OffsetDateTime>,
}

/// The explicit expiry of a request: `now + duration_days` or `expires_at`
/// (never both), within 100 years of `from`.
pub fn explicit_expiry(
    duration_days: Option<u32>,
    expires_at: Option<OffsetDateTime>,
    from: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<Option<OffsetDateTime>, String> {
    let latest = now + Duration::days(i64::from(MAX_DURATION_DAYS));
    match (duration_days, expires_at) {
        (Some(_), Some(_)) => Err("give duration_days or expires_at, not both".into()),
        (Some(days), None) if days == 0 || days > MAX_DURATION_DAYS => {
            Err(format!("duration_days must be between 1 and {MAX_DURATION_DAYS}"))
        }
        (Some(days), None) => Ok(Some(from + Duration::days(i64::from(days)))),
        (None, Some(at)) if at <= now => Err("expires_at must be in the future".into()),
        (None, Some(at)) if at > latest => Err("expires_at is more than 100 years away".into()),
        (None, Some(at)) => Ok(Some(at.replace_nanosecond(0).unwrap_or(at))),
        (None, None) => Ok(None),
    }
}

/// The kind and expiry of a new license of `tier` minted at `now`.
pub fn resolve(
    requested: RequestedTerm,
    tier: &Tier,
    now: OffsetDateTime,
) -> Result<(LicenseKind, Option<OffsetDateTime>), String> {
    let explicit = explicit_expiry(requested.duration_days, requested.expires_at, now, now)?;
    let tier_default = tier.duration_days.map(|days| now + Duration::days(i64::from(days)));
    match requested.kind {
        Some(LicenseKind::Perpetual) if explicit.is_some() => {
            Err("a perpetual license has no expiry; drop duration_days and expires_at".into())
        }
        Some(LicenseKind::Perpetual) => Ok((LicenseKind::Perpetual, None)),
        Some(kind) => match explicit.or(tier_default) {
            Some(expiry) => Ok((kind, Some(expiry))),
            None => Err(format!(
                "a {kind} license needs duration_days or expires_at (tier `{}` has no duration_days)",
                tier.slug
            )),
        },
        None => match explicit.or(tier_default) {
            // An expiry without a subscription behind it is a fixed term: a
            // `subscription` kind would tell the app it renews.
            Some(expiry) => Ok((LicenseKind::FixedTerm, Some(expiry))),
            None => Ok((LicenseKind::Perpetual, None)),
        },
    }
}
