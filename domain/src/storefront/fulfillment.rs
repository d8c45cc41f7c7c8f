//! Fulfillment: a storefront delivery becomes at most one license, and later
//! events of that sale change it. The rules live here, not in the adapters:
//!
//! - every authenticated delivery is recorded before anything else; if it
//!   cannot be, the caller answers 503 so the storefront retries;
//! - a sale mints one license with the idempotency key `<storefront>:sale:<id>`
//!   — the licenses table's unique index makes that hold under any
//!   concurrency, and a redelivery is recorded as a duplicate;
//! - a fulfilled sale queues the license email once (the outbox dedupes on
//!   the license), also when the sale is delivered again — so a replay heals
//!   an email that could not be queued the first time;
//! - refund → revoke (unless `on_refund = ignore`), dispute → suspend, dispute
//!   won → reinstate, each found through the sale's idempotency key (or, for a
//!   renewal's payment, through its subscription);
//! - a sale with a subscription id makes a subscription license that follows
//!   it: each recurring charge extends it once (the store records the charge
//!   in the same transaction), cancellation stops that, a restart resumes it,
//!   the subscription's end ends the license when it ended, and a plan change
//!   moves it to the new plan's tier (re-signed);
//! - anything that cannot be processed is kept as a failed event with its
//!   reason, to be replayed after the operator fixes the cause.

use std::collections::BTreeMap;
use std::sync::Arc;

use thiserror::Error;
use uuid::Uuid;

use super::{
    EventKind, EventOutcome, EventStatus, FinishedSale, InboundRequest, RecordedEvent, Storefront, StorefrontError,
    StorefrontEvent, StorefrontEventLog,
};
use crate::audit::{Actor, AuditEvent};
use crate::clock::{now_seconds, Clock};
use crate::issuance::{
    ChangeStateError, ChangeTierError, IssuanceService, MintError, MintLicense, NewLicenseWriter, RenewError,
    SubscriptionCharge,
};
use crate::license::{
    CreateLicenseError, CustomerName, EmailAddress, IdempotencyKey, IdempotencyRecord, License, LicenseKey,
    LicenseKind, LicenseRepository,
};
use crate::licensing::LicensingService;
use crate::random::{new_id, RandomSource};
use crate::repository::RepositoryError;

/// Which Tessera product and tier a storefront product sells; as configured
/// under `[storefronts.<name>.products."<id>"]`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductMapping {
    pub product: String,
    pub tier: String,
    /// A purchased variant (e.g. Gumroad `variants[Tier]` = `Pro`) → tier slug.
    #[serde(default)]
    pub variant_tiers: BTreeMap<String, String>,
}

impl ProductMapping {
    /// The tier a purchased variant (or plan tier) maps to; the mapping's own
    /// tier for an unmapped or absent variant.
    pub fn tier_of(&self, variant: Option<&str>) -> &str {
        variant.and_then(|variant| self.variant_tiers.get(variant)).unwrap_or(&self.tier)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RefundPolicy {
    /// A refunded sale's license is revoked.
    #[default]
    Revoke,
    /// Refunds are recorded and otherwise ignored.
    Ignore,
}

/// One configured storefront: its adapter and what its products map to.
pub struct ConfiguredStorefront {
    pub adapter: Arc<dyn Storefront>,
    pub on_refund: RefundPolicy,
    /// Keyed by the storefront's product id.
    pub products: BTreeMap<String, ProductMapping>,
}

/// A storefront product mapped to a product or tier the catalog does not have.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("storefronts.{storefront}.products.\"{product_id}\": no product `{product}` with tier `{tier}`")]
pub struct UnknownMapping {
    pub storefront: String,
    pub product_id: String,
    pub product: String,
    pub tier: String,
}

impl ConfiguredStorefront {
    /// A storefront whose every mapping (its tier and each variant's) names a
    /// product and tier of `catalog`: checked once, at start-up.
    pub fn new(
        adapter: Arc<dyn Storefront>,
        on_refund: RefundPolicy,
        products: BTreeMap<String, ProductMapping>,
        catalog: &crate::catalog::Catalog,
    ) -> Result<Self, UnknownMapping> {
        for (id, mapping) in &products {
            let known =
                |tier: &str| catalog.product(&mapping.product).is_some_and(|product| product.tier(tier).is_some());
            if let Some(tier) =
                std::iter::once(&mapping.tier).chain(mapping.variant_tiers.values()).find(|tier| !known(tier))
            {
                return Err(UnknownMapping {
                    storefront: adapter.name().to_owned(),
                    product_id: id.clone(),
                    product: mapping.product.clone(),
                    tier: tier.clone(),
                });
            }
        }
        Ok(Self { adapter, on_refund, products })
    }
}

#[derive(Debug, Error)]
pub enum ReceiveError {
    #[error("no storefront `{0}` is configured")]
    UnknownStorefront(String),
    #[error(transparent)]
    Unauthenticated(StorefrontError),
    /// The delivery could not be recorded: answer 503 so it is retried.
    #[error("the delivery could not be recorded: {0}")]
    NotRecorded(RepositoryError),
}

#[derive(Debug, Error)]
pub enum ReplayError {
    #[error("no storefront event {0}")]
    NotFound(Uuid),
    #[error("the event's storefront `{0}` is no longer configured")]
    UnknownStorefront(String),
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// What became of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub event_id: Uuid,
    pub outcome: EventOutcome,
    /// Whether the outcome was written to the event (else it stays `received`).
    pub outcome_recorded: bool,
}

/// What fulfillment is built from.
pub struct FulfillmentDeps {
    /// Where every delivery is recorded before it is processed.
    pub log: Arc<dyn StorefrontEventLog>,
    pub licenses: Arc<dyn LicenseRepository>,
    pub issuance: IssuanceService,
    /// Mints a sale's license with its email.
    pub licensing: LicensingService,
    pub clock: Arc<dyn Clock>,
    pub random: Arc<dyn RandomSource>,
    pub storefronts: Vec<ConfiguredStorefront>,
}

pub struct FulfillmentService {
    log: Arc<dyn StorefrontEventLog>,
    licenses: Arc<dyn LicenseRepository>,
    issuance: IssuanceService,
    licensing: LicensingService,
    clock: Arc<dyn Clock>,
    random: Arc<dyn RandomSource>,
    storefronts: BTreeMap<String, ConfiguredStorefront>,
}

impl FulfillmentService {
    pub fn new(deps: FulfillmentDeps) -> Self {
        let FulfillmentDeps { log, licenses, issuance, licensing, clock, random, storefronts } = deps;
        let storefronts =
            storefronts.into_iter().map(|storefront| (storefront.adapter.name().to_owned(), storefront)).collect();
        Self { log, licenses, issuance, licensing, clock, random, storefronts }
    }

    /// Authenticates, records, then processes one delivery. Only a failed
    /// authentication or a failed recording is an error; whatever processing
    /// finds is in the receipt (and on the recorded event).
    pub async fn receive(&self, storefront: &str, request: InboundRequest) -> Result<Receipt, ReceiveError> {
        let configured =
            self.storefronts.get(storefront).ok_or_else(|| ReceiveError::UnknownStorefront(storefront.to_owned()))?;
        configured.adapter.authenticate(&request).map_err(ReceiveError::Unauthenticated)?;
        let now = now_seconds(self.clock.as_ref());
        let query = form_urlencoded_pairs(&request.query, configured.adapter.secret_query_parameters());
        let event = RecordedEvent {
            id: new_id(self.random.as_ref(), self.clock.now()),
            storefront: storefront.to_owned(),
            received_at: now,
            query,
            body: request.body.clone(),
            status: EventStatus::Received,
            kind: None,
            dedupe_key: None,
            error: None,
            license_key: None,
            attempts: 0,
            processed_at: None,
        };
        self.log.record(&event).await.map_err(ReceiveError::NotRecorded)?;
        Ok(self.process_and_finish(configured, event.id, &request).await)
    }

    /// Processes a recorded delivery again (after the operator fixed a mapping,
    /// say). Idempotent like the first delivery: a sale still mints once.
    pub async fn replay(&self, id: Uuid) -> Result<Receipt, ReplayError> {
        let event = self.log.find_event(id).await?.ok_or(ReplayError::NotFound(id))?;
        let configured = self
            .storefronts
            .get(&event.storefront)
            .ok_or_else(|| ReplayError::UnknownStorefront(event.storefront.clone()))?;
        let request = InboundRequest { query: parse_pairs(&event.query), headers: Vec::new(), body: event.body };
        Ok(self.process_and_finish(configured, id, &request).await)
    }

    async fn process_and_finish(
        &self,
        configured: &ConfiguredStorefront,
        id: Uuid,
        request: &InboundRequest,
    ) -> Receipt {
        let (mut outcome, recorded) = self.process(configured, id, request).await;
        if recorded {
            // Stored with the license it minted.
            return Receipt { event_id: id, outcome, outcome_recorded: true };
        }
        // Whatever a storefront sent, the reason stored is printable and fits.
        outcome.error = outcome.error.map(|error| crate::text::printable(&error, 2000));
        let audit = self.outcome_audit(configured.adapter.name(), id, &outcome);
        let outcome_recorded = match self.log.finish(id, &outcome, &audit).await {
            Ok(recorded) => recorded,
            // The store is down: the event stays `received`, listed and replayable.
            Err(RepositoryError::Unavailable(_)) => false,
            // The outcome itself could not be written: record the event failed,
            // with that reason, so the operator sees it and can replay it.
            Err(error) => {
                outcome = EventOutcome {
                    status: EventStatus::Failed,
                    kind: None,
                    dedupe_key: None,
                    error: Some(format!(
                        "the outcome could not be recorded ({}); replay this event",
                        error_chain(&error)
                    )),
                    license_key: None,
                    processed_at: outcome.processed_at,
                };
                matches!(self.log.finish(id, &outcome, &audit).await, Ok(true))
            }
        };
        Receipt { event_id: id, outcome, outcome_recorded }
    }

    /// The `storefront_event.processed` audit event of `outcome`.
    fn outcome_audit(&self, storefront: &str, id: Uuid, outcome: &EventOutcome) -> crate::audit::AuditEvent {
        let details = serde_json::json!({
            "status": outcome.status.as_str(), "kind": outcome.kind, "license_key": outcome.license_key,
            "error": outcome.error,
        });
        let now = self.clock.now();
        crate::audit::AuditEvent {
            id: new_id(self.random.as_ref(), now),
            at: now_seconds(self.clock.as_ref()),
            actor: Actor::Storefront(storefront.to_owned()),
            action: "storefront_event.processed".to_owned(),
            entity_type: "storefront_event".to_owned(),
            entity_id: id.to_string(),
            details,
        }
    }

    /// What processing `request` found, and whether that outcome is already
    /// stored (a new sale stores it with its license).
    async fn process(
        &self,
        configured: &ConfiguredStorefront,
        id: Uuid,
        request: &InboundRequest,
    ) -> (EventOutcome, bool) {
        let processed_at = now_seconds(self.clock.as_ref());
        let outcome = |status, event: Option<&StorefrontEvent>, error: Option<String>, license_key: Option<String>| {
            EventOutcome {
                status,
                kind: event.map(|event| event.kind.to_string()),
                dedupe_key: event.map(StorefrontEvent::dedupe_key),
                error,
                license_key,
                processed_at,
            }
        };
        let parsed = match configured.adapter.parse(request) {
            Ok(event) => configured.adapter.complete(request, event).await,
            Err(error) => Err(error),
        };
        let event = match parsed {
            Ok(event) if event.check().is_ok() => event,
            Ok(event) => {
                let problem = event.check().err().unwrap_or_default();
                let error = Some(format!("unusable {} event: {problem}", event.kind));
                return (outcome(EventStatus::Failed, None, error, None), false);
            }
            Err(error @ StorefrontError::Ignored(_)) => {
                return (outcome(EventStatus::Ignored, None, Some(error.to_string()), None), false)
            }
            Err(error) => return (outcome(EventStatus::Failed, None, Some(error.to_string()), None), false),
        };
        let name = configured.adapter.name();
        let result = match event.kind {
            EventKind::Sale => {
                let processed = outcome(EventStatus::Processed, Some(&event), None, None);
                self.fulfill_sale(name, configured, &event, id, processed).await
            }
            EventKind::Refund if configured.on_refund == RefundPolicy::Ignore => {
                Err(Fault::Ignored("refunds are ignored (on_refund = \"ignore\")".into()))
            }
            EventKind::Refund => self.change_sale(name, &event, Change::Revoke).await.map(Done::from),
            EventKind::Dispute => self.change_sale(name, &event, Change::Suspend).await.map(Done::from),
            EventKind::DisputeWon => self.change_sale(name, &event, Change::Reinstate).await.map(Done::from),
            EventKind::RecurringCharge => self.apply_charge(name, configured, &event).await.map(Done::from),
            EventKind::Cancellation => self.set_renewing(name, &event, false).await.map(Done::from),
            EventKind::SubscriptionRestarted => self.set_renewing(name, &event, true).await.map(Done::from),
            EventKind::SubscriptionEnded => self.end_subscription(name, &event).await.map(Done::from),
            EventKind::SubscriptionUpdated => self.change_plan(name, configured, &event).await.map(Done::from),
        };
        match result {
            Ok(Done::Recorded(outcome)) => (outcome, true),
            Ok(Done::Changed(status, key)) => (outcome(status, Some(&event), None, Some(key)), false),
            Err(Fault::Failed(error)) => (outcome(EventStatus::Failed, Some(&event), Some(error), None), false),
            Err(Fault::Ignored(reason)) => (outcome(EventStatus::Ignored, Some(&event), Some(reason), None), false),
        }
    }

    /// Mints the sale's license. A new license is stored with its email and
    /// this event's outcome in one transaction; a sale delivered again finds
    /// the license it minted (and queues its email if that is missing).
    async fn fulfill_sale(
        &self,
        storefront: &str,
        configured: &ConfiguredStorefront,
        event: &StorefrontEvent,
        event_id: Uuid,
        processed: EventOutcome,
    ) -> Result<Done, Fault> {
        let mapping = configured.products.get(&event.product_ref).ok_or_else(|| {
            Fault::Failed(format!(
                "no product mapping for {storefront} product `{}`; add [storefronts.{storefront}.products.\"{}\"] and replay",
                event.product_ref, event.product_ref
            ))
        })?;
        let tier = mapping.tier_of(event.variant.as_deref()).to_owned();
        let email = event
            .email
            .as_deref()
            .ok_or_else(|| Fault::Failed("the sale has no buyer email".into()))
            .and_then(|email| EmailAddress::parse(email).map_err(|error| Fault::Failed(error.to_string())))?;
        let name = event
            .name
            .as_deref()
            .and_then(|name| CustomerName::parse(name).ok())
            .or_else(|| CustomerName::parse(email.as_str()).ok())
            .ok_or_else(|| Fault::Failed("the sale has no usable buyer name".into()))?;
        let sale_id = event.sale_id.clone().unwrap_or_default();
        let subscription = event.subscription_id.is_some();
        let request = MintLicense {
            product: mapping.product.clone(),
            tier,
            name,
            email,
            seats: None,
            kind: subscription.then_some(LicenseKind::Subscription),
            duration_days: event.billing_period_days.filter(|_| subscription),
            expires_at: None,
            key: None,
            notes: event.test.then(|| format!("test purchase ({storefront} test ping)")),
            source: Some(storefront.to_owned()),
            source_ref: Some(sale_id.chars().take(200).collect()),
            app_versions: None,
            subscription_id: event.subscription_id.clone(),
            idempotency_key: Some(sale_key(storefront, &sale_id)?),
        };
        let actor = Actor::Storefront(storefront.to_owned());
        let writer = SaleWriter { service: self, storefront, actor: &actor, event_id, processed };
        let (minted, stored) = match self.issuance.mint_with(request, actor.clone(), &writer).await {
            Ok(minted) => minted,
            Err(MintError::IdempotencyKeyReused) => {
                return Err(Fault::Failed(
                    "this sale id already minted a license for a different product, tier or buyer".into(),
                ))
            }
            Err(error) => return Err(Fault::Failed(error.to_string())),
        };
        if let Some(outcome) = stored {
            return Ok(Done::Recorded(outcome));
        }
        // Delivered again: queue the email if the first mint's is missing (the
        // outbox queues a license's email once).
        let key = minted.license.key.to_string();
        if let Err(error) = self.licensing.outbox().queue_issued(&minted.license, actor).await {
            return Err(Fault::Failed(format!(
                "license {key} is minted but its email could not be queued ({error}); replay this event to queue it"
            )));
        }
        Ok(Done::Changed(EventStatus::Duplicate, key))
    }

    async fn apply_charge(
        &self,
        storefront: &str,
        configured: &ConfiguredStorefront,
        event: &StorefrontEvent,
    ) -> Result<(EventStatus, String), Fault> {
        let key = self.license_of_subscription(storefront, event).await?;
        let sale_id = event.sale_id.clone().unwrap_or_default();
        // A charge names the plan it paid for: a downgrade that took effect at
        // this charge moves the license with it.
        let tier = event
            .variant
            .as_deref()
            .and_then(|variant| Some(configured.products.get(&event.product_ref)?.tier_of(Some(variant)).to_owned()));
        let charge = SubscriptionCharge {
            effect_key: format!("{storefront}:charge:{sale_id}"),
            charged_at: event.occurred_at.unwrap_or_else(|| now_seconds(self.clock.as_ref())),
            period_days: event.billing_period_days,
            tier,
        };
        match self.issuance.extend_for_charge(&key, &charge, Actor::Storefront(storefront.to_owned())).await {
            Ok(license) => Ok((EventStatus::Processed, license.key.to_string())),
            Err(RenewError::AlreadyApplied) => Ok((EventStatus::Duplicate, key.to_string())),
            Err(error @ RenewError::NotRenewing) => Err(Fault::Ignored(format!(
                "{error}; the charge was not applied (renew the license by hand, or replay after a restart)"
            ))),
            Err(error) => Err(Fault::Failed(error.to_string())),
        }
    }

    async fn set_renewing(
        &self,
        storefront: &str,
        event: &StorefrontEvent,
        renewing: bool,
    ) -> Result<(EventStatus, String), Fault> {
        let key = self.license_of_subscription(storefront, event).await?;
        let actor = Actor::Storefront(storefront.to_owned());
        let result = self.issuance.set_renewing(&key, renewing, event.reason.as_deref(), actor).await;
        state_changed(result, &key)
    }

    /// The subscription is over (Gumroad `subscription_ended`, whatever its
    /// `ended_reason`): no more renewals, and the license ends when it did.
    async fn end_subscription(
        &self,
        storefront: &str,
        event: &StorefrontEvent,
    ) -> Result<(EventStatus, String), Fault> {
        let key = self.license_of_subscription(storefront, event).await?;
        let ended_at = event.occurred_at.unwrap_or_else(|| now_seconds(self.clock.as_ref()));
        let actor = Actor::Storefront(storefront.to_owned());
        let result = self.issuance.end_subscription(&key, ended_at, event.reason.as_deref(), actor).await;
        state_changed(result, &key)
    }

    /// An upgrade or downgrade: the license moves to the tier the new plan maps
    /// to and is re-signed; when the event says whether the subscription
    /// renews, renewal stops or resumes with it. A change that takes effect later (a downgrade at
    /// the end of the paid period) is applied by the first charge after it.
    async fn change_plan(
        &self,
        storefront: &str,
        configured: &ConfiguredStorefront,
        event: &StorefrontEvent,
    ) -> Result<(EventStatus, String), Fault> {
        let key = self.license_of_subscription(storefront, event).await?;
        let mapping = configured.products.get(&event.product_ref).ok_or_else(|| {
            Fault::Failed(format!(
                "no product mapping for {storefront} product `{}`; add [storefronts.{storefront}.products.\"{}\"] and replay",
                event.product_ref, event.product_ref
            ))
        })?;
        let tier = mapping.tier_of(event.variant.as_deref());
        let now = now_seconds(self.clock.as_ref());
        if let Some(effective) = event.occurred_at.filter(|at| *at > now) {
            return Err(Fault::Ignored(format!(
                "the plan change to tier `{tier}` takes effect at {effective}; the first charge after that moves the license"
            )));
        }
        let actor = Actor::Storefront(storefront.to_owned());
        let mut status = match self.issuance.change_tier(&key, &mapping.product, tier, actor.clone()).await {
            Ok(_) => EventStatus::Processed,
            Err(ChangeTierError::AlreadyOnTier(_)) => EventStatus::Duplicate,
            Err(error) => return Err(Fault::Failed(error.to_string())),
        };
        if let Some(renewing) = event.renewing {
            let changed = self.issuance.set_renewing(&key, renewing, event.reason.as_deref(), actor).await;
            if state_changed(changed, &key)?.0 == EventStatus::Processed {
                status = EventStatus::Processed;
            }
        }
        Ok((status, key.to_string()))
    }

    async fn license_of_subscription(&self, storefront: &str, event: &StorefrontEvent) -> Result<LicenseKey, Fault> {
        let subscription = event.subscription_id.as_deref().unwrap_or_default();
        let found = self
            .licenses
            .find_by_subscription(storefront, subscription)
            .await
            .map_err(|error| Fault::Failed(error.to_string()))?;
        found.map(|license| license.key).ok_or_else(|| {
            Fault::Failed(format!(
                "no license follows {storefront} subscription `{subscription}` (was its first sale fulfilled?); \
                 replay this event once it is"
            ))
        })
    }

    async fn change_sale(
        &self,
        storefront: &str,
        event: &StorefrontEvent,
        change: Change,
    ) -> Result<(EventStatus, String), Fault> {
        let sale_id = event.sale_id.clone().unwrap_or_default();
        // A renewal's payment minted nothing of its own: its refund or dispute
        // acts on the license that follows its subscription.
        let key = match (self.license_of_sale(storefront, &sale_id).await, &event.subscription_id) {
            (Ok(key), _) => key,
            (Err(_), Some(_)) => self.license_of_subscription(storefront, event).await?,
            (Err(fault), None) => return Err(fault),
        };
        let actor = Actor::Storefront(storefront.to_owned());
        let result = match change {
            Change::Revoke => self.issuance.revoke(&key, &format!("refunded on {storefront}"), actor).await,
            Change::Suspend => self.issuance.suspend(&key, actor).await,
            Change::Reinstate => self.issuance.reinstate(&key, actor).await,
        };
        state_changed(result, &key)
    }

    async fn license_of_sale(&self, storefront: &str, sale_id: &str) -> Result<LicenseKey, Fault> {
        let found = self
            .licenses
            .find_by_idempotency_key(&sale_key(storefront, sale_id)?)
            .await
            .map_err(|error| Fault::Failed(error.to_string()))?;
        found
            .map(|(license, _)| license.key)
            .ok_or_else(|| Fault::Failed(format!("no license was minted for {storefront} sale `{sale_id}`")))
    }
}

/// What processing an event did.
enum Done {
    /// A new license, stored with its email and the event's outcome (this one).
    Recorded(EventOutcome),
    /// What changed (or was found), and the license's key; the outcome is
    /// still to be stored.
    Changed(EventStatus, String),
}

impl From<(EventStatus, String)> for Done {
    fn from((status, key): (EventStatus, String)) -> Self {
        Self::Changed(status, key)
    }
}

/// Stores a sale's new license with its first email and the event's outcome,
/// in one transaction (`StorefrontEventLog::create_license_and_finish`).
struct SaleWriter<'a> {
    service: &'a FulfillmentService,
    storefront: &'a str,
    actor: &'a Actor,
    event_id: Uuid,
    /// The outcome, but for the license key.
    processed: EventOutcome,
}

#[async_trait::async_trait]
impl NewLicenseWriter for SaleWriter<'_> {
    type Stored = EventOutcome;

    async fn create(
        &self,
        license: &License,
        idempotency: Option<&IdempotencyRecord>,
        license_audit: &AuditEvent,
    ) -> Result<EventOutcome, CreateLicenseError> {
        let (delivery, delivery_audit) = self.service.licensing.outbox().first_license_email(license, self.actor);
        let outcome = EventOutcome { license_key: Some(license.key.to_string()), ..self.processed.clone() };
        let outcome_audit = self.service.outcome_audit(self.storefront, self.event_id, &outcome);
        let sale = FinishedSale {
            license,
            idempotency,
            license_audit,
            delivery: &delivery,
            delivery_audit: &delivery_audit,
            event_id: self.event_id,
            outcome: &outcome,
            outcome_audit: &outcome_audit,
        };
        self.service.log.create_license_and_finish(&sale).await?;
        Ok(outcome)
    }
}

/// An error and its causes on one line, printable.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    crate::text::printable(&text, 500)
}

/// A state change's outcome: done, or already in the state the event asks for
/// (a redelivery, or the operator acted first).
fn state_changed(result: Result<License, ChangeStateError>, key: &LicenseKey) -> Result<(EventStatus, String), Fault> {
    match result {
        Ok(license) => Ok((EventStatus::Processed, license.key.to_string())),
        Err(ChangeStateError::InvalidTransition { .. }) => Ok((EventStatus::Duplicate, key.to_string())),
        Err(error) => Err(Fault::Failed(error.to_string())),
    }
}

enum Change {
    Revoke,
    Suspend,
    Reinstate,
}

enum Fault {
    Failed(String),
    Ignored(String),
}

fn sale_key(storefront: &str, sale_id: &str) -> Result<IdempotencyKey, Fault> {
    IdempotencyKey::parse(&format!("{storefront}:sale:{sale_id}"))
        .map_err(|_| Fault::Failed(format!("unusable sale id `{}`", sale_id.chars().take(80).collect::<String>())))
}

/// The query without the storefront's credentials, form-encoded, kept for the
/// operator and for replays.
fn form_urlencoded_pairs(query: &[(String, String)], secret: &[&str]) -> String {
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (name, value) in query.iter().filter(|(name, _)| !secret.contains(&name.as_str())) {
        form.append_pair(name, value);
    }
    form.finish()
}

fn parse_pairs(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes()).map(|(name, value)| (name.into_owned(), value.into_owned())).collect()
}
