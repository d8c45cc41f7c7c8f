use thiserror::Error;
use time::OffsetDateTime;
use uuid::Uuid;

use super::LicenseKey;

/// The `source` of imported licenses.
pub const IMPORT_SOURCE: &str = "import";

/// The most seats one license may grant.
pub const MAX_SEATS: u32 = 100_000;
/// The longest a license may run in one go (100 years).
pub const MAX_DURATION_DAYS: u32 = 36_500;

/// How a license is sold; carried in the token's `kind` claim, so it must say
/// what the buyer has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LicenseKind {
    /// Never expires.
    Perpetual,
    /// Follows a storefront subscription: each paid charge extends it.
    Subscription,
    /// A paid term (e.g. a one-time purchase of a 365-day tier) that does not
    /// renew by itself; the operator may renew it.
    FixedTerm,
    Trial,
}

/// What the operator or a storefront last decided about a license. Expiry is not
/// stored: it follows from `expires_at` and the clock (see [`LicenseStatus`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LicenseState {
    Active,
    Suspended,
    Revoked,
}

/// The status a caller sees: the stored state, or `Expired` for an active
/// license past its expiry. Revoked and suspended win over expired, since they
/// are decisions the operator may need to see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LicenseStatus {
    Active,
    Suspended,
    Revoked,
    Expired,
}

/// `as_str`, `FromStr` (error [`UnknownVariant`]) and `Display` for a
/// fieldless enum stored as text; used by every module's status enums.
macro_rules! text_enum {
    ($ty:ident, $err:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $text),+ }
            }
        }
        impl std::str::FromStr for $ty {
            type Err = $crate::license::UnknownVariant;
            fn from_str(text: &str) -> Result<Self, $crate::license::UnknownVariant> {
                match text {
                    $($text => Ok($ty::$variant),)+
                    other => Err($crate::license::UnknownVariant { kind: $err, found: other.to_owned() }),
                }
            }
        }
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str(self.as_str()) }
        }
    };
}
pub(crate) use text_enum;

text_enum!(LicenseKind, "license kind", { Perpetual => "perpetual", Subscription => "subscription", FixedTerm => "fixed_term", Trial => "trial" });
text_enum!(LicenseState, "license state", { Active => "active", Suspended => "suspended", Revoked => "revoked" });
text_enum!(LicenseStatus, "license status", { Active => "active", Suspended => "suspended", Revoked => "revoked", Expired => "expired" });

#[derive(Debug, Error, PartialEq, Eq)]
#[error("unknown {kind} `{found}`")]
pub struct UnknownVariant {
    pub kind: &'static str,
    pub found: String,
}

/// A buyer's email address, lower-cased so lookups by email match however it
/// was typed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

#[derive(Debug, Error, PartialEq, Eq)]
#[error("`{0}` is not a valid email address")]
pub struct EmailAddressError(pub String);

impl EmailAddress {
    /// Accepts `local@domain.tld` without spaces, up to 254 characters. Deliberately
    /// loose beyond that: the mail provider is the judge of deliverability.
    pub fn parse(text: &str) -> Result<Self, EmailAddressError> {
        let email = text.trim().to_lowercase();
        let well_formed = email.len() <= 254
            && email.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains("..")
            })
            && !email.chars().any(|c| c.is_whitespace() || c.is_control() || "<>()[],;:\"\\".contains(c));
        if well_formed {
            Ok(Self(email))
        } else {
            Err(EmailAddressError(text.chars().take(100).collect()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The licensee's name as signed into the token.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CustomerName(String);

#[derive(Debug, Error, PartialEq, Eq)]
#[error("a name is 1-200 characters without control characters")]
pub struct CustomerNameError;

impl CustomerName {
    pub fn parse(text: &str) -> Result<Self, CustomerNameError> {
        let name = text.trim();
        if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
            return Err(CustomerNameError);
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A client-chosen key that makes a mint safe to retry (`Idempotency-Key`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

#[derive(Debug, Error, PartialEq, Eq)]
#[error("an idempotency key is 1-255 visible ASCII characters")]
pub struct IdempotencyKeyError;

impl IdempotencyKey {
    pub fn parse(text: &str) -> Result<Self, IdempotencyKeyError> {
        if text.is_empty() || text.len() > 255 || !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(IdempotencyKeyError);
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A mint remembered under its idempotency key: the key and the request it
/// answered, so a retry with another request is told apart from a true repeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub key: IdempotencyKey,
    /// A canonical rendering of the mint request.
    pub request: String,
}

/// A license as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct License {
    pub id: Uuid,
    pub key: LicenseKey,
    pub product: String,
    pub tier: String,
    pub features: Vec<String>,
    pub seats: u32,
    pub kind: LicenseKind,
    pub name: CustomerName,
    pub email: EmailAddress,
    pub state: LicenseState,
    pub issued_at: OffsetDateTime,
    /// `None`: perpetual.
    pub expires_at: Option<OffsetDateTime>,
    /// Where the license came from: `admin`, `gumroad`, `import`, …
    pub source: String,
    /// The source's own reference, e.g. a sale id.
    pub source_ref: Option<String>,
    pub notes: Option<String>,
    pub revoke_reason: Option<String>,
    /// App major versions this license may activate; `None`: its tier's rule applies.
    pub app_versions: Option<Vec<u32>>,
    /// The storefront subscription whose charges extend this license.
    pub subscription: Option<Subscription>,
    /// The signed license token (JWS) as last issued.
    pub token: String,
    pub updated_at: OffsetDateTime,
    /// Bumped by every update; updates are conditional on it (optimistic concurrency).
    pub version: i64,
}

/// A storefront subscription a license follows: each recurring charge extends
/// the license while `renewing`; cancellation stops that, a restart resumes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// The storefront's subscription id (unique per storefront).
    pub id: String,
    pub renewing: bool,
}

impl License {
    /// Whether a purchase made this license (a storefront sold it), as opposed
    /// to an operator's mint or an import.
    pub fn is_sale(&self) -> bool {
        !matches!(self.source.as_str(), "admin" | IMPORT_SOURCE)
    }

    pub fn status_at(&self, now: OffsetDateTime) -> LicenseStatus {
        match self.state {
            LicenseState::Revoked => LicenseStatus::Revoked,
            LicenseState::Suspended => LicenseStatus::Suspended,
            LicenseState::Active if self.expires_at.is_some_and(|at| at <= now) => LicenseStatus::Expired,
            LicenseState::Active => LicenseStatus::Active,
        }
    }
}

/// Which licenses to list. `now` decides which active licenses count as expired.
#[derive(Debug, Clone, PartialEq)]
pub struct LicenseFilter {
    pub email: Option<EmailAddress>,
    pub product: Option<String>,
    pub status: Option<LicenseStatus>,
    pub source: Option<String>,
    /// Case-insensitive substring of key, name or email.
    pub query: Option<String>,
    /// Only licenses still active at `now` that expire by this time ("expiring soon").
    pub expires_before: Option<OffsetDateTime>,
    pub now: OffsetDateTime,
}

impl LicenseFilter {
    pub fn all(now: OffsetDateTime) -> Self {
        Self { email: None, product: None, status: None, source: None, query: None, expires_before: None, now }
    }

    /// What an operator typed into a search box: a whole email address finds
    /// that buyer's licenses (an indexed lookup); anything else is a
    /// case-insensitive substring of key, name or email (a scan).
    pub fn search(text: &str, now: OffsetDateTime) -> Self {
        let text = text.trim();
        match EmailAddress::parse(text) {
            Ok(email) if text.contains('@') => Self { email: Some(email), ..Self::all(now) },
            _ => Self { query: Some(text.to_owned()).filter(|text| !text.is_empty()), ..Self::all(now) },
        }
    }

    /// The same predicate the stores apply in SQL, for in-memory stores and tests.
    pub fn matches(&self, license: &License) -> bool {
        let query_matches = |query: &str| {
            let query = query.to_lowercase();
            [license.key.as_str(), license.name.as_str(), license.email.as_str()]
                .iter()
                .any(|field| field.to_lowercase().contains(&query))
        };
        self.email.as_ref().is_none_or(|email| &license.email == email)
            && self.product.as_ref().is_none_or(|product| &license.product == product)
            && self.source.as_ref().is_none_or(|source| &license.source == source)
            && self.status.is_none_or(|status| license.status_at(self.now) == status)
            && self.query.as_deref().is_none_or(query_matches)
            && self.expires_before.is_none_or(|before| {
                license.status_at(self.now) == LicenseStatus::Active
                    && license.expires_at.is_some_and(|at| at <= before)
            })
    }
}
