use std::sync::Arc;

use serde_json::{json, Value};
use time::OffsetDateTime;

use super::term::{self, RequestedTerm};
use super::*;
use crate::audit::{Actor, AuditEvent};
use crate::catalog::Catalog;
use crate::clock::{now_seconds, Clock};
use crate::license::{
    generate_key, CreateLicenseError, CustomerName, EmailAddress, IdempotencyKey, IdempotencyRecord, License,
    LicenseFilter, LicenseKey, LicenseKind, LicenseRepository, LicenseState, UpdateLicenseError, MAX_SEATS,
};
use crate::page::{Page, PageRequest};
use crate::random::{new_id, RandomSource};

/// How often a read-modify-write is retried when another writer changed the
/// license in between (optimistic concurrency).
const MAX_UPDATE_ATTEMPTS: usize = 5;
/// How often a mint retries a generated key that collided (with 100 random bits,
/// a collision means a broken random source more than bad luck).
const MAX_KEY_ATTEMPTS: usize = 3;

/// A request to mint a license, already parsed at the edge.
#[derive(Debug, Clone, PartialEq)]
pub struct MintLicense {
    pub product: String,
    pub tier: String,
    pub name: CustomerName,
    pub email: EmailAddress,
    /// Overrides the tier's seats.
    pub seats: Option<u32>,
    pub kind: Option<LicenseKind>,
    pub duration_days: Option<u32>,
    pub expires_at: Option<OffsetDateTime>,
    /// A custom key chosen by the operator; generated when absent.
    pub key: Option<LicenseKey>,
    pub notes: Option<String>,
    /// `admin` when absent.
    pub source: Option<String>,
    pub source_ref: Option<String>,
    /// App major versions this license may activate, overriding the tier's.
    pub app_versions: Option<Vec<u32>>,
    /// The storefront subscription whose charges will extend this license.
    pub subscription_id: Option<String>,
    pub idempotency_key: Option<IdempotencyKey>,
}

impl MintLicense {
    /// A license of `tier` of `product` for `name` at `email`, with
    /// everything else from the tier (set the other fields to override it).
    pub fn new(product: impl Into<String>, tier: impl Into<String>, name: CustomerName, email: EmailAddress) -> Self {
        Self {
            product: product.into(),
            tier: tier.into(),
            name,
            email,
            seats: None,
            kind: None,
            duration_days: None,
            expires_at: None,
            key: None,
            notes: None,
            source: None,
            source_ref: None,
            app_versions: None,
            subscription_id: None,
            idempotency_key: None,
        }
    }

    /// The request as remembered under its idempotency key; two requests are "the
    /// same" exactly when these agree.
    fn canonical(&self) -> String {
        json!({
            "product": self.product, "tier": self.tier,
            "name": self.name.as_str(), "email": self.email.as_str(),
            "seats": self.seats, "kind": self.kind.map(LicenseKind::as_str),
            "duration_days": self.duration_days,
            "expires_at": self.expires_at.map(OffsetDateTime::unix_timestamp),
            "key": self.key.as_ref().map(LicenseKey::as_str),
            "notes": self.notes, "source": self.source, "source_ref": self.source_ref,
            "app_versions": self.app_versions, "subscription_id": self.subscription_id,
        })
        .to_string()
    }
}

/// The result of a mint: the license, and whether it was minted by an earlier
/// request with the same idempotency key.
#[derive(Debug, Clone, PartialEq)]
pub struct Minted {
    pub license: License,
    pub replayed: bool,
}

/// A request to extend a license. With neither field, the tier's duration applies.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RenewLicense {
    pub duration_days: Option<u32>,
    pub expires_at: Option<OffsetDateTime>,
}

/// One storefront charge of a subscription: extends the license once, however
/// often it is delivered.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionCharge {
    /// Unique per charge, e.g. `gumroad:charge:<sale id>`.
    pub effect_key: String,
    pub charged_at: OffsetDateTime,
    /// The billing period paid for; `None`: the tier's `duration_days`.
    pub period_days: Option<u32>,
    /// The tier the charge paid for, when the storefront says: a plan change
    /// that took effect at this charge moves the license to it.
    pub tier: Option<String>,
}

/// What a state change writes to the audit log, and whether it changes the
/// signed claims (then the token is re-signed in the same write).
struct StateChange {
    verb: &'static str,
    action: &'static str,
    details: Value,
    resign: bool,
}

impl StateChange {
    fn new(verb: &'static str, action: &'static str, details: Value) -> Self {
        Self { verb, action, details, resign: false }
    }
}

/// The issuance use cases: mint, find, list, revoke, suspend, reinstate, renew.
#[derive(Clone)]
pub struct IssuanceService {
    pub(super) licenses: Arc<dyn LicenseRepository>,
    pub(super) signer: Arc<dyn Signer>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) random: Arc<dyn RandomSource>,
    pub(super) catalog: Arc<Catalog>,
    pub(super) issuer: String,
}

fn check_text(field: &str, value: &Option<String>, max_chars: usize) -> Result<(), MintError> {
    match value {
        Some(text) => crate::text::check(field, text, max_chars).map_err(MintError::InvalidField),
        None => Ok(()),
    }
}

fn check_source(source: &str) -> Result<(), MintError> {
    let valid = (1..=32).contains(&source.len())
        && source.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_:".contains(&b));
    if valid {
        Ok(())
    } else {
        Err(MintError::InvalidField("source is 1-32 characters of a-z, 0-9, '-', '_' or ':'".into()))
    }
}

impl IssuanceService {
    pub fn new(
        licenses: Arc<dyn LicenseRepository>,
        signer: Arc<dyn Signer>,
        clock: Arc<dyn Clock>,
        random: Arc<dyn RandomSource>,
        catalog: Arc<Catalog>,
        issuer: impl Into<String>,
    ) -> Self {
        Self { licenses, signer, clock, random, catalog, issuer: issuer.into() }
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub fn now(&self) -> OffsetDateTime {
        now_seconds(self.clock.as_ref())
    }

    fn audit(&self, actor: &Actor, action: &str, license: &License, details: Value) -> AuditEvent {
        AuditEvent::about_license(self.random.as_ref(), self.clock.now(), actor, action, &license.key, details)
    }

    fn sign(&self, license: &License) -> Result<String, SignError> {
        self.signer.sign_license(&LicenseClaims::of(license, &self.issuer))
    }

    /// A fresh token for `license` as it is now (after a change of its customer).
    pub fn resign(&self, license: &License) -> Result<String, SignError> {
        self.sign(license)
    }

    /// The license an earlier mint under the same idempotency key produced, when
    /// `request` is that same mint; otherwise the key is being reused.
    fn replay_or_reject(request: &MintLicense, found: (License, IdempotencyRecord)) -> Result<Minted, MintError> {
        let (license, record) = found;
        if record.request == request.canonical() {
            Ok(Minted { license, replayed: true })
        } else {
            Err(MintError::IdempotencyKeyReused)
        }
    }

    /// Mints a license and its signed token. With an idempotency key, a repeat of
    /// the same request returns the first license (`replayed`), also when both
    /// run concurrently; a different request under the same key is refused.
    pub async fn mint(&self, request: MintLicense, actor: Actor) -> Result<Minted, MintError> {
        Ok(self.mint_with(request, actor, &LicenseAlone(self.licenses.as_ref())).await?.0)
    }

    /// [`Self::mint`], storing the new license through `writer` (which stores
    /// whatever else must be written in the same transaction, and returns
    /// what it stored with it); `None` beside a replayed license.
    pub(crate) async fn mint_with<W: NewLicenseWriter>(
        &self,
        request: MintLicense,
        actor: Actor,
        writer: &W,
    ) -> Result<(Minted, Option<W::Stored>), MintError> {
        let replayed = |minted: Result<Minted, MintError>| minted.map(|minted| (minted, None));
        if let Some(key) = &request.idempotency_key {
            if let Some(found) = self.licenses.find_by_idempotency_key(key).await? {
                return replayed(Self::replay_or_reject(&request, found));
            }
        }
        let product =
            self.catalog.product(&request.product).ok_or_else(|| MintError::UnknownProduct(request.product.clone()))?;
        let tier = product
            .tier(&request.tier)
            .ok_or_else(|| MintError::UnknownTier { product: request.product.clone(), tier: request.tier.clone() })?;
        let seats = request.seats.unwrap_or(tier.seats);
        if seats == 0 || seats > MAX_SEATS {
            return Err(MintError::InvalidSeats);
        }
        let source = request.source.clone().unwrap_or_else(|| "admin".to_owned());
        check_source(&source)?;
        check_text("source_ref", &request.source_ref, 200)?;
        check_text("notes", &request.notes, 2000)?;
        check_text("subscription_id", &request.subscription_id, 200)?;
        if request.app_versions.as_ref().is_some_and(|versions| versions.is_empty() || versions.len() > 64) {
            return Err(MintError::InvalidField("app_versions lists 1-64 major versions".into()));
        }
        let now = self.now();
        let requested =
            RequestedTerm { kind: request.kind, duration_days: request.duration_days, expires_at: request.expires_at };
        let (kind, expires_at) = term::resolve(requested, tier, now).map_err(MintError::InvalidTerm)?;
        let idempotency =
            request.idempotency_key.clone().map(|key| IdempotencyRecord { key, request: request.canonical() });

        for _ in 0..MAX_KEY_ATTEMPTS {
            let key = match &request.key {
                Some(key) => key.clone(),
                None => generate_key(&product.key_prefix, &tier.slug, self.random.as_ref()),
            };
            let mut license = License {
                id: new_id(self.random.as_ref(), self.clock.now()),
                key,
                product: product.slug.clone(),
                tier: tier.slug.clone(),
                features: tier.features.clone(),
                seats,
                kind,
                name: request.name.clone(),
                email: request.email.clone(),
                state: LicenseState::Active,
                issued_at: now,
                expires_at,
                source: source.clone(),
                source_ref: request.source_ref.clone(),
                notes: request.notes.clone(),
                revoke_reason: None,
                app_versions: request.app_versions.clone(),
                subscription: request
                    .subscription_id
                    .clone()
                    .map(|id| crate::license::Subscription { id, renewing: true }),
                token: String::new(),
                updated_at: now,
                version: 1,
            };
            license.token = self.sign(&license)?;
            let details = json!({
                "product": license.product, "tier": license.tier, "seats": license.seats,
                "kind": license.kind.as_str(),
                "expires_at": license.expires_at.map(OffsetDateTime::unix_timestamp),
                "source": license.source, "source_ref": license.source_ref,
            });
            let audit = self.audit(&actor, "license.minted", &license, details);
            match writer.create(&license, idempotency.as_ref(), &audit).await {
                Ok(stored) => return Ok((Minted { license, replayed: false }, Some(stored))),
                Err(CreateLicenseError::KeyTaken(_)) if request.key.is_none() => continue,
                Err(CreateLicenseError::IdempotencyKeyTaken) => {
                    // A concurrent request with the same key won the race.
                    let key = request.idempotency_key.as_ref().ok_or(MintError::IdempotencyKeyReused)?;
                    return replayed(match self.licenses.find_by_idempotency_key(key).await? {
                        Some(found) => Self::replay_or_reject(&request, found),
                        None => Err(MintError::IdempotencyKeyReused),
                    });
                }
                Err(error @ CreateLicenseError::SubscriptionTaken) => {
                    // Which unique index fires first is up to the database: a concurrent
                    // twin of this very mint may be the one holding the subscription.
                    let found = match &request.idempotency_key {
                        Some(key) => self.licenses.find_by_idempotency_key(key).await?,
                        None => None,
                    };
                    return replayed(match found {
                        Some(found) => Self::replay_or_reject(&request, found),
                        None => Err(error.into()),
                    });
                }
                Err(error) => return Err(error.into()),
            }
        }
        Err(MintError::Repository(crate::repository::RepositoryError::unexpected(
            "generated license keys kept colliding: is the random source broken?",
        )))
    }

    pub async fn get(&self, key: &LicenseKey) -> Result<License, GetLicenseError> {
        self.licenses.find_by_key(key).await?.ok_or_else(|| GetLicenseError::NotFound(key.clone()))
    }

    pub async fn list(&self, filter: &LicenseFilter, page: &PageRequest) -> Result<Page<License>, ListLicensesError> {
        if page.after.as_deref().is_some_and(|cursor| uuid::Uuid::parse_str(cursor).is_err()) {
            return Err(ListLicensesError::InvalidCursor);
        }
        Ok(self.licenses.list(filter, page).await?)
    }

    /// Revokes a license for good; `reason` is kept and shown to the operator.
    pub async fn revoke(&self, key: &LicenseKey, reason: &str, actor: Actor) -> Result<License, ChangeStateError> {
        let reason = reason.trim();
        if reason.is_empty() || crate::text::check("reason", reason, 500).is_err() {
            return Err(ChangeStateError::InvalidReason);
        }
        let change = StateChange::new("revoke", "license.revoked", json!({ "reason": reason }));
        self.change_state(key, actor, change, |license| match license.state {
            LicenseState::Revoked => false,
            LicenseState::Active | LicenseState::Suspended => {
                license.state = LicenseState::Revoked;
                license.revoke_reason = Some(reason.to_owned());
                true
            }
        })
        .await
    }

    /// Suspends an active license; [`Self::reinstate`] undoes it.
    pub async fn suspend(&self, key: &LicenseKey, actor: Actor) -> Result<License, ChangeStateError> {
        self.change_state(key, actor, StateChange::new("suspend", "license.suspended", json!({})), |license| {
            let allowed = license.state == LicenseState::Active;
            if allowed {
                license.state = LicenseState::Suspended;
            }
            allowed
        })
        .await
    }

    pub async fn reinstate(&self, key: &LicenseKey, actor: Actor) -> Result<License, ChangeStateError> {
        self.change_state(key, actor, StateChange::new("reinstate", "license.reinstated", json!({})), |license| {
            let allowed = license.state == LicenseState::Suspended;
            if allowed {
                license.state = LicenseState::Active;
            }
            allowed
        })
        .await
    }

    /// Read, apply `transition` (false: not allowed from this state), write back
    /// conditionally on the version read; retried when another writer won.
    async fn change_state(
        &self,
        key: &LicenseKey,
        actor: Actor,
        change: StateChange,
        transition: impl Fn(&mut License) -> bool,
    ) -> Result<License, ChangeStateError> {
        for _ in 0..MAX_UPDATE_ATTEMPTS {
            let mut license =
                self.licenses.find_by_key(key).await?.ok_or_else(|| ChangeStateError::NotFound(key.clone()))?;
            let now = self.now();
            let status = license.status_at(now);
            if !transition(&mut license) {
                return Err(ChangeStateError::InvalidTransition { action: change.verb, status });
            }
            let expected = license.version;
            license.version += 1;
            license.updated_at = now;
            if change.resign {
                license.token = self.sign(&license)?;
            }
            let audit = self.audit(&actor, change.action, &license, change.details.clone());
            match self.licenses.update(&license, expected, &audit).await {
                Ok(()) => return Ok(license),
                Err(UpdateLicenseError::Conflict | UpdateLicenseError::AlreadyApplied) => continue,
                Err(UpdateLicenseError::NotFound(key)) => return Err(ChangeStateError::NotFound(key)),
                Err(UpdateLicenseError::Repository(error)) => return Err(error.into()),
            }
        }
        Err(ChangeStateError::Contended)
    }

    /// Extends a license and re-signs its token. The new term starts at the later
    /// of now and the current expiry, so renewing early loses no days.
    pub async fn renew(&self, key: &LicenseKey, request: RenewLicense, actor: Actor) -> Result<License, RenewError> {
        self.extend(key, request, None, None, actor, |_| Ok(())).await
    }

    /// Applies one paid charge of a license's subscription: the term runs from
    /// the later of the current expiry and the charge. MUST be idempotent per
    /// `charge.effect_key` (the store enforces it); refuses a subscription that
    /// no longer renews (cancelled or ended).
    pub async fn extend_for_charge(
        &self,
        key: &LicenseKey,
        charge: &SubscriptionCharge,
        actor: Actor,
    ) -> Result<License, RenewError> {
        let request = RenewLicense { duration_days: charge.period_days, expires_at: None };
        let charged_at = charge.charged_at;
        let paid_for = Some((charge.effect_key.as_str(), charged_at));
        self.extend(key, request, paid_for, charge.tier.as_deref(), actor, |license| match &license.subscription {
            Some(subscription) if subscription.renewing => Ok(()),
            Some(_) => Err(RenewError::NotRenewing),
            None => Err(RenewError::InvalidTerm("the license follows no subscription".into())),
        })
        .await
    }

    async fn extend(
        &self,
        key: &LicenseKey,
        request: RenewLicense,
        charge: Option<(&str, OffsetDateTime)>,
        tier: Option<&str>,
        actor: Actor,
        allowed: impl Fn(&License) -> Result<(), RenewError>,
    ) -> Result<License, RenewError> {
        for _ in 0..MAX_UPDATE_ATTEMPTS {
            let mut license = self.licenses.find_by_key(key).await?.ok_or_else(|| RenewError::NotFound(key.clone()))?;
            if license.state == LicenseState::Revoked {
                return Err(RenewError::Revoked);
            }
            if license.kind == LicenseKind::Perpetual {
                return Err(RenewError::InvalidTerm("a perpetual license does not expire".into()));
            }
            allowed(&license)?;
            let now = self.now();
            // A charge pays for the period from the charge on; an operator's renewal
            // adds its term to what is left.
            let from = match charge {
                Some((_, charged_at)) => charged_at.min(now),
                None => license.expires_at.map_or(now, |at| at.max(now)),
            };
            let duration_days = match (request.duration_days, request.expires_at) {
                (None, None) => Some(self.tier_duration(&license)?),
                (days, _) => days,
            };
            let new_expiry = term::explicit_expiry(duration_days, request.expires_at, from, now)
                .map_err(RenewError::InvalidTerm)?
                .ok_or_else(|| RenewError::InvalidTerm("give duration_days or expires_at".into()))?;
            let previous = license.expires_at;
            // A late or replayed charge never shortens the license.
            let new_expiry = previous.filter(|_| charge.is_some()).map_or(new_expiry, |at| at.max(new_expiry));
            let expected = license.version;
            let previous_tier = license.tier.clone();
            if let Some(tier) = tier.and_then(|slug| self.catalog.product(&license.product)?.tier(slug)) {
                license.tier = tier.slug.clone();
                license.features = tier.features.clone();
                license.seats = tier.seats;
            }
            license.expires_at = Some(new_expiry);
            license.version += 1;
            license.updated_at = now;
            license.token = self.sign(&license)?;
            let details = json!({
                "previous_expires_at": previous.map(OffsetDateTime::unix_timestamp),
                "expires_at": new_expiry.unix_timestamp(),
                "charge": charge.map(|(effect, _)| effect),
                "previous_tier": (previous_tier != license.tier).then_some(previous_tier),
                "tier": license.tier,
            });
            let audit = self.audit(&actor, "license.renewed", &license, details);
            let written = match charge {
                Some((effect, _)) => self.licenses.update_once(&license, expected, effect, &audit).await,
                None => self.licenses.update(&license, expected, &audit).await,
            };
            match written {
                Ok(()) => return Ok(license),
                Err(UpdateLicenseError::Conflict) => continue,
                Err(UpdateLicenseError::AlreadyApplied) => return Err(RenewError::AlreadyApplied),
                Err(UpdateLicenseError::NotFound(key)) => return Err(RenewError::NotFound(key)),
                Err(UpdateLicenseError::Repository(error)) => return Err(error.into()),
            }
        }
        Err(RenewError::Contended)
    }

    /// Stops (`false`) or resumes (`true`) extensions by the license's
    /// subscription (a cancellation, a restart). The license itself stays valid
    /// until it expires. `reason` (e.g. "cancelled by the buyer") goes to the audit log.
    pub async fn set_renewing(
        &self,
        key: &LicenseKey,
        renewing: bool,
        reason: Option<&str>,
        actor: Actor,
    ) -> Result<License, ChangeStateError> {
        let (verb, action) =
            if renewing { ("resume", "subscription.resumed") } else { ("stop renewing", "subscription.stopped") };
        let change = StateChange::new(verb, action, json!({ "reason": reason }));
        self.change_state(key, actor, change, |license| match &mut license.subscription {
            Some(subscription) if subscription.renewing != renewing => {
                subscription.renewing = renewing;
                true
            }
            _ => false,
        })
        .await
    }

    /// Ends the license's subscription at `ended_at`: no charge extends it any
    /// more, and it expires at `ended_at` unless it already expires earlier.
    /// The token is re-signed with that expiry. A restart and a new charge bring
    /// it back. `reason` (e.g. `failed_payment`) goes to the audit log.
    pub async fn end_subscription(
        &self,
        key: &LicenseKey,
        ended_at: OffsetDateTime,
        reason: Option<&str>,
        actor: Actor,
    ) -> Result<License, ChangeStateError> {
        let details = json!({ "ended_at": ended_at.unix_timestamp(), "reason": reason });
        let change = StateChange { resign: true, ..StateChange::new("end", "subscription.ended", details) };
        self.change_state(key, actor, change, |license| {
            let Some(subscription) = &mut license.subscription else { return false };
            let expiry = license.expires_at.map_or(ended_at, |at| at.min(ended_at));
            if !subscription.renewing && license.expires_at == Some(expiry) {
                return false;
            }
            subscription.renewing = false;
            license.expires_at = Some(expiry);
            true
        })
        .await
    }

    /// Moves a license to another tier of its product (a storefront plan
    /// change): the tier's features and seats, the expiry kept, re-signed.
    /// Machines already active keep their seats; new activations count against
    /// the new seat limit.
    pub async fn change_tier(
        &self,
        key: &LicenseKey,
        product: &str,
        tier: &str,
        actor: Actor,
    ) -> Result<License, ChangeTierError> {
        let unknown = || ChangeTierError::UnknownTier { product: product.to_owned(), tier: tier.to_owned() };
        let new_tier = self.catalog.product(product).and_then(|found| found.tier(tier)).ok_or_else(unknown)?;
        for _ in 0..MAX_UPDATE_ATTEMPTS {
            let mut license =
                self.licenses.find_by_key(key).await?.ok_or_else(|| ChangeTierError::NotFound(key.clone()))?;
            if license.product != product {
                return Err(ChangeTierError::OtherProduct {
                    key: key.clone(),
                    expected: product.to_owned(),
                    actual: license.product,
                });
            }
            if license.state == LicenseState::Revoked {
                return Err(ChangeTierError::Revoked);
            }
            if license.tier == new_tier.slug {
                return Err(ChangeTierError::AlreadyOnTier(license.tier));
            }
            let previous = std::mem::replace(&mut license.tier, new_tier.slug.clone());
            license.features = new_tier.features.clone();
            license.seats = new_tier.seats;
            let expected = license.version;
            license.version += 1;
            license.updated_at = self.now();
            license.token = self.sign(&license)?;
            let details = json!({ "previous_tier": previous, "tier": license.tier, "seats": license.seats });
            let audit = self.audit(&actor, "license.tier_changed", &license, details);
            match self.licenses.update(&license, expected, &audit).await {
                Ok(()) => return Ok(license),
                Err(UpdateLicenseError::Conflict | UpdateLicenseError::AlreadyApplied) => continue,
                Err(UpdateLicenseError::NotFound(key)) => return Err(ChangeTierError::NotFound(key)),
                Err(UpdateLicenseError::Repository(error)) => return Err(error.into()),
            }
        }
        Err(ChangeTierError::Contended)
    }

    fn tier_duration(&self, license: &License) -> Result<u32, RenewError> {
        self.catalog
            .product(&license.product)
            .and_then(|product| product.tier(&license.tier))
            .and_then(|tier| tier.duration_days)
            .ok_or_else(|| {
                RenewError::InvalidTerm(format!(
                    "tier `{}` of `{}` has no duration_days; give duration_days or expires_at",
                    license.tier, license.product
                ))
            })
    }
}

/// How a mint stores its new license: alone, or with what must be written in
/// the same transaction (its first email). MUST return what
/// `LicenseRepository::create` returns for a taken key, idempotency key or
/// subscription, having stored nothing.
#[async_trait::async_trait]
pub(crate) trait NewLicenseWriter: Send + Sync {
    /// What was stored beside the license.
    type Stored: Send;

    async fn create(
        &self,
        license: &License,
        idempotency: Option<&IdempotencyRecord>,
        audit: &AuditEvent,
    ) -> Result<Self::Stored, CreateLicenseError>;
}

/// The license and its audit event, nothing else.
struct LicenseAlone<'a>(&'a dyn LicenseRepository);

#[async_trait::async_trait]
impl NewLicenseWriter for LicenseAlone<'_> {
    type Stored = ();

    async fn create(
        &self,
        license: &License,
        idempotency: Option<&IdempotencyRecord>,
        audit: &AuditEvent,
    ) -> Result<(), CreateLicenseError> {
        self.0.create(license, idempotency, audit).await
    }
}
