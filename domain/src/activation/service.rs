use std::sync::Arc;

use serde_json::json;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::errors::*;
use crate::audit::{Actor, AuditEvent};
use crate::catalog::Catalog;
use crate::clock::{now_seconds, Clock};
use crate::issuance::{LeaseClaims, LeaseVerifier, SignError, Signer};
use crate::license::{
    Activation, ActivationRepository, AppVersion, ChurnLimit, EmailAddress, Fingerprint, License, LicenseKey,
    LicenseStatus, MachineName, MachineView, Platform, SeatOutcome,
};
use crate::random::{new_id, RandomSource};

/// How leases are issued and how often machines may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActivationPolicy {
    /// A lease's lifetime; the app checks in before it runs out.
    pub lease_days: u32,
    /// How long after its lease expires an app keeps working offline.
    pub grace_days: u32,
    /// New activations allowed per license per rolling 24 hours once that many
    /// machines were deactivated in the window; 0 turns the limit off.
    pub churn_per_day: u32,
}

impl ActivationPolicy {
    /// The policy's own limits: a lease of 1-3650 days, a grace of 0-3650.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=3650).contains(&self.lease_days) || self.grace_days > 3650 {
            return Err("licenses.lease_days must be 1-3650 and grace_days 0-3650".into());
        }
        Ok(())
    }
}

impl Default for ActivationPolicy {
    fn default() -> Self {
        Self { lease_days: 30, grace_days: 7, churn_per_day: 10 }
    }
}

/// A request to activate a machine, parsed at the edge.
#[derive(Debug, Clone, PartialEq)]
pub struct Activate {
    /// As the buyer typed it: a text that is no license key is `NOT_FOUND`,
    /// like a key that does not exist.
    pub key: String,
    pub fingerprint: Fingerprint,
    /// E.g. the host name; shown in the portal and the admin API.
    pub machine_name: Option<MachineName>,
    pub platform: Option<Platform>,
    pub app_version: Option<AppVersion>,
    /// When given, must match the license (identity check).
    pub name: Option<String>,
    pub email: Option<String>,
}

/// A machine holding a seat, with a fresh lease.
#[derive(Debug, Clone, PartialEq)]
pub struct Leased {
    pub lease: String,
    pub lease_expires_at: OffsetDateTime,
    pub activation: Activation,
    pub license: License,
    pub seats_used: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValidationCode {
    Valid,
    Refused(Refusal),
}

impl ValidationCode {
    pub fn code(self) -> &'static str {
        match self {
            Self::Valid => "VALID",
            Self::Refused(refusal) => refusal.code(),
        }
    }
}

/// The answer to "may this license (on this machine) run now?".
#[derive(Debug, Clone, PartialEq)]
pub struct Validation {
    pub code: ValidationCode,
    pub checked_at: OffsetDateTime,
    /// The license, when it exists.
    pub machine: Option<MachineView>,
}

/// What the activation use cases are built from.
pub struct ActivationDeps {
    pub activations: Arc<dyn ActivationRepository>,
    /// Signs leases.
    pub signer: Arc<dyn Signer>,
    /// Checks the leases machines present.
    pub verifier: Arc<dyn LeaseVerifier>,
    pub clock: Arc<dyn Clock>,
    pub random: Arc<dyn RandomSource>,
    pub catalog: Arc<Catalog>,
    /// Published releases: what an expired license with perpetual fallback kept.
    pub releases: Arc<dyn crate::release::ReleaseRepository>,
    /// The `iss` of leases.
    pub issuer: String,
    pub policy: ActivationPolicy,
}

/// The activation use cases.
#[derive(Clone)]
pub struct ActivationService {
    activations: Arc<dyn ActivationRepository>,
    signer: Arc<dyn Signer>,
    verifier: Arc<dyn LeaseVerifier>,
    clock: Arc<dyn Clock>,
    random: Arc<dyn RandomSource>,
    catalog: Arc<Catalog>,
    releases: Arc<dyn crate::release::ReleaseRepository>,
    issuer: String,
    policy: ActivationPolicy,
}

impl ActivationService {
    pub fn new(deps: ActivationDeps) -> Self {
        let ActivationDeps { activations, signer, verifier, clock, random, catalog, releases, issuer, policy } = deps;
        Self { activations, signer, verifier, clock, random, catalog, releases, issuer, policy }
    }

    pub fn policy(&self) -> ActivationPolicy {
        self.policy
    }

    /// Activates a machine, or refreshes the lease of a machine that already
    /// holds a seat (it never takes a second one).
    pub async fn activate(&self, request: Activate) -> Result<Leased, ActivateError> {
        let now = now_seconds(self.clock.as_ref());
        let key = LicenseKey::parse(&request.key).map_err(|_| ActivateError::Refused(Refusal::NotFound))?;
        let view = self
            .activations
            .find_for_machine(&key, Some(&request.fingerprint))
            .await?
            .ok_or(ActivateError::Refused(Refusal::NotFound))?;
        self.may_run(&view.license, request.app_version.as_ref(), now).map_err(ActivateError::Refused)?;
        check_identity(&view.license, request.name.as_deref(), request.email.as_deref())
            .map_err(ActivateError::Refused)?;
        let version = request.app_version.as_ref().map(AppVersion::as_str);

        if let Some(activation) = view.activation {
            return self.refresh(view.license, view.seats_used, activation, version, now).await;
        }
        if view.seats_used >= view.license.seats {
            // The store decides under concurrency; this only spares a write.
            return Err(ActivateError::TooManyMachines { seats: view.license.seats });
        }

        let activation = Activation {
            id: new_id(self.random.as_ref(), self.clock.now()),
            license_id: view.license.id,
            fingerprint: request.fingerprint.clone(),
            name: request.machine_name.clone().map(MachineName::into_string),
            platform: request.platform.clone().map(Platform::into_string),
            app_version: version.map(str::to_owned),
            activated_at: now,
            last_seen_at: now,
            deactivated_at: None,
        };
        let audit = AuditEvent::about_license(
            self.random.as_ref(),
            self.clock.now(),
            &Actor::Buyer,
            "activation.created",
            &view.license.key,
            json!({"activation_id": activation.id.to_string(), "fingerprint": activation.fingerprint.as_str(), "platform": activation.platform}),
        );
        let churn = (self.policy.churn_per_day > 0)
            .then(|| ChurnLimit { since: now - Duration::DAY, limit: self.policy.churn_per_day });
        match self.activations.take_seat(&activation, churn, &audit).await? {
            SeatOutcome::ChurnLimited => Err(ActivateError::Churn { limit: self.policy.churn_per_day }),
            SeatOutcome::Taken { seats_used } => {
                let (lease, lease_expires_at) = self.sign_lease(&view.license, &activation, now)?;
                Ok(Leased { lease, lease_expires_at, activation, license: view.license, seats_used })
            }
            SeatOutcome::AlreadyActive(existing) => {
                self.refresh(view.license, view.seats_used, existing, version, now).await
            }
            SeatOutcome::NoSeatLeft => {
                // Either the seats ran out or the license changed meanwhile; say which.
                let current = self.activations.find_for_machine(&key, None).await?;
                if let Some(current) = current {
                    self.may_run(&current.license, None, now).map_err(ActivateError::Refused)?;
                }
                Err(ActivateError::TooManyMachines { seats: view.license.seats })
            }
        }
    }

    async fn refresh(
        &self,
        license: License,
        seats_used: u32,
        mut activation: Activation,
        version: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Leased, ActivateError> {
        if !self.activations.touch(activation.id, now, version).await? {
            // Deactivated between the read and now: the machine no longer holds a seat.
            return Err(ActivateError::Refused(Refusal::NoMachine));
        }
        activation.last_seen_at = now;
        if let Some(version) = version {
            activation.app_version = Some(version.to_owned());
        }
        let (lease, lease_expires_at) = self.sign_lease(&license, &activation, now)?;
        Ok(Leased { lease, lease_expires_at, activation, license, seats_used })
    }

    /// Read-only: never changes anything, so it can answer at full speed. `key`
    /// as the app sent it: a text that is no license key is `NOT_FOUND`.
    pub async fn validate(
        &self,
        key: &str,
        fingerprint: Option<&Fingerprint>,
        app_version: Option<&AppVersion>,
    ) -> Result<Validation, crate::repository::RepositoryError> {
        let checked_at = now_seconds(self.clock.as_ref());
        let not_found = Validation { code: ValidationCode::Refused(Refusal::NotFound), checked_at, machine: None };
        let Ok(key) = LicenseKey::parse(key) else { return Ok(not_found) };
        let Some(view) = self.activations.find_for_machine(&key, fingerprint).await? else {
            return Ok(Validation { code: ValidationCode::Refused(Refusal::NotFound), checked_at, machine: None });
        };
        let mut standing = self.may_run(&view.license, app_version, checked_at);
        if standing == Err(Refusal::Expired) && self.kept_version(&view.license, app_version).await? {
            standing = Ok(());
        }
        let code = match standing {
            Err(refusal) => ValidationCode::Refused(refusal),
            Ok(()) if fingerprint.is_some() && view.activation.is_none() => ValidationCode::Refused(Refusal::NoMachine),
            Ok(()) => ValidationCode::Valid,
        };
        Ok(Validation { code, checked_at, machine: Some(view) })
    }

    /// Renews the lease of a machine that still holds its seat. An expired lease
    /// is accepted as long as its signature verifies.
    pub async fn heartbeat(
        &self,
        lease: &str,
        fingerprint: &Fingerprint,
        app_version: Option<&AppVersion>,
    ) -> Result<Leased, HeartbeatError> {
        let now = now_seconds(self.clock.as_ref());
        let id = self.presented_activation(lease, fingerprint).map_err(|error| match error {
            Presented::Invalid(rejected) => HeartbeatError::InvalidLease(rejected),
            Presented::OtherMachine => HeartbeatError::FingerprintMismatch,
        })?;
        let refused = HeartbeatError::Refused;
        let view = self.activations.find_by_activation(id).await?.ok_or(refused(Refusal::NoMachine))?;
        let activation = view.activation.filter(Activation::is_live).ok_or(refused(Refusal::NoMachine))?;
        self.may_run(&view.license, app_version, now).map_err(refused)?;
        self.refresh(view.license, view.seats_used, activation, app_version.map(AppVersion::as_str), now).await.map_err(
            |error| match error {
                ActivateError::Refused(refusal) => HeartbeatError::Refused(refusal),
                ActivateError::Repository(error) => HeartbeatError::Repository(error),
                ActivateError::Sign(error) => HeartbeatError::Sign(error),
                ActivateError::TooManyMachines { .. } | ActivateError::Churn { .. } => {
                    unreachable!("refreshing a lease takes no seat")
                }
            },
        )
    }

    /// Frees the seat held by the machine presenting `lease`. Idempotent: a
    /// machine already deactivated gets the same answer.
    pub async fn deactivate(&self, lease: &str, fingerprint: &Fingerprint) -> Result<(), DeactivateError> {
        let id = self.presented_activation(lease, fingerprint).map_err(|error| match error {
            Presented::Invalid(rejected) => DeactivateError::InvalidLease(rejected),
            Presented::OtherMachine => DeactivateError::FingerprintMismatch,
        })?;
        if let Some(view) = self.activations.find_by_activation(id).await? {
            self.release(&view, &Actor::Buyer).await?;
        }
        Ok(())
    }

    /// The operator frees a seat. Idempotent; returns the activation as it is now.
    pub async fn admin_deactivate(&self, id: Uuid) -> Result<Activation, AdminDeactivateError> {
        let view = self.activations.find_by_activation(id).await?.ok_or(AdminDeactivateError::NotFound(id))?;
        Ok(self.release(&view, &Actor::Admin).await?)
    }

    /// The buyer frees a seat of one of their own licenses (the portal).
    /// Idempotent; another owner's machine is reported as not found.
    pub async fn deactivate_owned(&self, id: Uuid, owner: &EmailAddress) -> Result<Activation, OwnedDeactivateError> {
        let view = self.activations.find_by_activation(id).await?.ok_or(OwnedDeactivateError::NotFound(id))?;
        if &view.license.email != owner {
            return Err(OwnedDeactivateError::NotFound(id));
        }
        Ok(self.release(&view, &Actor::Buyer).await?)
    }

    /// Live activations of a license, oldest first.
    pub async fn machines(&self, license: &License) -> Result<Vec<Activation>, crate::repository::RepositoryError> {
        self.activations.live_activations(license.id).await
    }

    async fn release(
        &self,
        view: &MachineView,
        actor: &Actor,
    ) -> Result<Activation, crate::repository::RepositoryError> {
        let mut activation = view.activation.clone().expect("find_by_activation returns the activation");
        if !activation.is_live() {
            return Ok(activation);
        }
        let now = now_seconds(self.clock.as_ref());
        let audit = AuditEvent::about_license(
            self.random.as_ref(),
            self.clock.now(),
            actor,
            "activation.deactivated",
            &view.license.key,
            json!({"activation_id": activation.id.to_string(), "fingerprint": activation.fingerprint.as_str()}),
        );
        if self.activations.release_seat(activation.id, now, &audit).await? {
            activation.deactivated_at = Some(now);
        } else if let Some(current) = self.activations.find_by_activation(activation.id).await? {
            // Someone else freed it first; report their timestamp.
            activation = current.activation.unwrap_or(activation);
        }
        Ok(activation)
    }

    fn presented_activation(&self, lease: &str, fingerprint: &Fingerprint) -> Result<Uuid, Presented> {
        let claims = self.verifier.verify_lease(lease).map_err(Presented::Invalid)?;
        if claims.fp != fingerprint.as_str() {
            return Err(Presented::OtherMachine);
        }
        claims.jti.parse().map_err(|_| Presented::Invalid(crate::issuance::LeaseRejected("malformed jti".into())))
    }

    /// Whether an expired license still runs `app_version` by perpetual
    /// fallback — the rule that decides its downloads: its tier has
    /// fallback, the version's major is allowed, and a release at least that
    /// new was published while the license was valid ("keep what you got").
    async fn kept_version(
        &self,
        license: &License,
        app_version: Option<&AppVersion>,
    ) -> Result<bool, crate::repository::RepositoryError> {
        use crate::release::{entitlement, Version};
        let tier = self.catalog.product(&license.product).and_then(|product| product.tier(&license.tier));
        let Some(version) = app_version.and_then(|version| Version::parse(version.as_str()).ok()) else {
            return Ok(false);
        };
        if !tier.is_some_and(|tier| tier.downloads.perpetual_fallback)
            || !entitlement::allows_major_version(license, tier, version.major())
        {
            return Ok(false);
        }
        let published = self.releases.published_releases(&license.product).await?;
        Ok(published.iter().any(|release| {
            release.version >= version
                && entitlement::fallback_covers(license, tier, release.published_at.unwrap_or(release.created_at))
        }))
    }

    /// The license's standing and the app version rule.
    fn may_run(&self, license: &License, app_version: Option<&AppVersion>, now: OffsetDateTime) -> Result<(), Refusal> {
        match license.status_at(now) {
            LicenseStatus::Active => {}
            LicenseStatus::Revoked => return Err(Refusal::Revoked),
            LicenseStatus::Suspended => return Err(Refusal::Suspended),
            LicenseStatus::Expired => return Err(Refusal::Expired),
        }
        let Some(version) = app_version else { return Ok(()) };
        let tier = self.catalog.product(&license.product).and_then(|product| product.tier(&license.tier));
        // The rule that also decides which releases a license may download.
        if crate::release::entitlement::allows_major_version(license, tier, version.major()) {
            Ok(())
        } else {
            Err(Refusal::VersionMismatch)
        }
    }

    fn sign_lease(
        &self,
        license: &License,
        activation: &Activation,
        now: OffsetDateTime,
    ) -> Result<(String, OffsetDateTime), SignError> {
        let mut expires_at = now + Duration::days(i64::from(self.policy.lease_days));
        if let Some(license_expiry) = license.expires_at {
            expires_at = expires_at.min(license_expiry);
        }
        let claims = LeaseClaims {
            iss: self.issuer.clone(),
            sub: license.key.to_string(),
            jti: activation.id.to_string(),
            iat: now.unix_timestamp(),
            exp: expires_at.unix_timestamp(),
            fp: activation.fingerprint.as_str().to_owned(),
            product: license.product.clone(),
            tier: license.tier.clone(),
            features: license.features.clone(),
            grace_days: self.policy.grace_days,
        };
        Ok((self.signer.sign_lease(&claims)?, expires_at))
    }
}

enum Presented {
    Invalid(crate::issuance::LeaseRejected),
    OtherMachine,
}

/// Name and email, when the request carries them, must be the license's own
/// (email exactly, name ignoring case and surrounding space).
fn check_identity(license: &License, name: Option<&str>, email: Option<&str>) -> Result<(), Refusal> {
    let name_matches = name.is_none_or(|name| name.trim().to_lowercase() == license.name.as_str().to_lowercase());
    let email_matches = email.is_none_or(|email| EmailAddress::parse(email).is_ok_and(|email| email == license.email));
    if name_matches && email_matches {
        Ok(())
    } else {
        Err(Refusal::IdentityMismatch)
    }
}
