use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use tessera_domain::audit::{AuditEvent, AuditFilter, AuditLog};
use tessera_domain::license::{
    Activation, ActivationRepository, ChurnLimit, CreateLicenseError, Fingerprint, IdempotencyKey, IdempotencyRecord,
    License, LicenseFilter, LicenseKey, LicenseRepository, LicenseState, MachineView, SeatOutcome, UpdateLicenseError,
};
use tessera_domain::mail::Delivery;
use tessera_domain::page::{Page, PageRequest};
use tessera_domain::repository::RepositoryError;
use tessera_domain::storefront::{EventFilter, EventOutcome, RecordedEvent, StorefrontEventLog};
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Default)]
pub(crate) struct State {
    licenses: Vec<License>,
    activations: Vec<Activation>,
    events: Vec<RecordedEvent>,
    idempotency: HashMap<String, (usize, IdempotencyRecord)>,
    /// Once-only changes applied (`update_once`).
    effects: std::collections::HashSet<String>,
    pub(crate) deliveries: Vec<Delivery>,
    usage: Vec<tessera_domain::usage::UsageEvent>,
    customers: Vec<tessera_domain::customer::Customer>,
    flags: Vec<tessera_domain::usage::Flag>,
    pub(crate) audit: Vec<AuditEvent>,
}

/// Licenses and audit events in a `Vec` behind a mutex. One lock for every
/// operation makes each of them atomic, as a transaction would.
#[derive(Default)]
pub struct InMemoryLicenseRepository {
    state: Mutex<State>,
    /// When set, every call fails as if the database were down.
    unavailable: std::sync::atomic::AtomicBool,
}

impl InMemoryLicenseRepository {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every later call fail with `RepositoryError::Unavailable` (or work
    /// again), to test how callers handle a database outage.
    pub fn set_unavailable(&self, unavailable: bool) {
        self.unavailable.store(unavailable, std::sync::atomic::Ordering::SeqCst);
    }

    pub(crate) fn state(&self) -> Result<std::sync::MutexGuard<'_, State>, RepositoryError> {
        if self.unavailable.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(RepositoryError::unavailable("in-memory store switched off"));
        }
        Ok(self.state.lock().expect("in-memory store lock"))
    }
}

impl State {
    /// What the SQL stores do in the license's transaction: a customer per new email.
    fn ensure_customer(&mut self, license: &License) {
        if !self.customers.iter().any(|customer| customer.email == license.email) {
            self.customers.push(tessera_domain::customer::Customer {
                email: license.email.clone(),
                name: license.name.clone(),
                created_at: license.issued_at,
                updated_at: license.updated_at,
                licenses: 0,
            });
        }
    }

    fn with_count(&self, customer: &tessera_domain::customer::Customer) -> tessera_domain::customer::Customer {
        let licenses = self.licenses.iter().filter(|license| license.email == customer.email).count() as u64;
        tessera_domain::customer::Customer { licenses, ..customer.clone() }
    }

    fn update(
        &mut self,
        license: &License,
        expected_version: i64,
        audit: &AuditEvent,
    ) -> Result<(), UpdateLicenseError> {
        let stored = self
            .licenses
            .iter_mut()
            .find(|stored| stored.id == license.id)
            .ok_or_else(|| UpdateLicenseError::NotFound(license.key.clone()))?;
        if stored.version != expected_version {
            return Err(UpdateLicenseError::Conflict);
        }
        *stored = license.clone();
        self.audit.push(audit.clone());
        Ok(())
    }

    fn seats_used(&self, license_id: Uuid) -> u32 {
        self.activations.iter().filter(|activation| activation.license_id == license_id && activation.is_live()).count()
            as u32
    }

    fn live(&self, license_id: Uuid, fingerprint: &Fingerprint) -> Option<&Activation> {
        self.activations.iter().find(|activation| {
            activation.license_id == license_id && activation.is_live() && &activation.fingerprint == fingerprint
        })
    }

    fn view(&self, license: &License, activation: Option<Activation>) -> MachineView {
        MachineView { license: license.clone(), seats_used: self.seats_used(license.id), activation }
    }
}

/// Newest first by id (UUIDv7, time-ordered), strictly after the cursor.
pub(crate) fn page_of<T: Clone>(
    rows: impl Iterator<Item = T>,
    id_of: impl Fn(&T) -> String,
    page: &PageRequest,
) -> Page<T> {
    let mut rows: Vec<T> = rows.filter(|row| page.after.as_ref().is_none_or(|after| id_of(row) < *after)).collect();
    rows.sort_by_key(|row| std::cmp::Reverse(id_of(row)));
    rows.truncate(page.limit as usize + 1);
    Page::from_overfetch(rows, page.limit, id_of)
}

#[async_trait]
impl LicenseRepository for InMemoryLicenseRepository {
    async fn create(
        &self,
        license: &License,
        idempotency: Option<&IdempotencyRecord>,
        audit: &AuditEvent,
    ) -> Result<(), CreateLicenseError> {
        let mut state = self.state()?;
        if state.licenses.iter().any(|existing| existing.key == license.key) {
            return Err(CreateLicenseError::KeyTaken(license.key.clone()));
        }
        if let Some(subscription) = &license.subscription {
            let taken = state.licenses.iter().any(|existing| {
                existing.source == license.source
                    && existing.subscription.as_ref().is_some_and(|other| other.id == subscription.id)
            });
            if taken {
                return Err(CreateLicenseError::SubscriptionTaken);
            }
        }
        if let Some(record) = idempotency {
            if state.idempotency.contains_key(record.key.as_str()) {
                return Err(CreateLicenseError::IdempotencyKeyTaken);
            }
            let index = state.licenses.len();
            state.idempotency.insert(record.key.as_str().to_owned(), (index, record.clone()));
        }
        state.licenses.push(license.clone());
        state.ensure_customer(license);
        state.audit.push(audit.clone());
        Ok(())
    }

    async fn create_many(&self, licenses: &[License], audits: &[AuditEvent]) -> Result<(), CreateLicenseError> {
        let mut state = self.state()?;
        let mut keys = std::collections::HashSet::new();
        for license in licenses {
            if !keys.insert(&license.key) || state.licenses.iter().any(|existing| existing.key == license.key) {
                return Err(CreateLicenseError::KeyTaken(license.key.clone()));
            }
        }
        state.licenses.extend(licenses.iter().cloned());
        licenses.iter().for_each(|license| state.ensure_customer(license));
        state.audit.extend(audits.iter().cloned());
        Ok(())
    }

    async fn existing_keys(&self, keys: &[LicenseKey]) -> Result<Vec<LicenseKey>, RepositoryError> {
        let state = self.state()?;
        Ok(keys.iter().filter(|key| state.licenses.iter().any(|license| &license.key == *key)).cloned().collect())
    }

    async fn find_by_key(&self, key: &LicenseKey) -> Result<Option<License>, RepositoryError> {
        Ok(self.state()?.licenses.iter().find(|license| &license.key == key).cloned())
    }

    async fn find_by_idempotency_key(
        &self,
        key: &IdempotencyKey,
    ) -> Result<Option<(License, IdempotencyRecord)>, RepositoryError> {
        let state = self.state()?;
        Ok(state.idempotency.get(key.as_str()).map(|(index, record)| (state.licenses[*index].clone(), record.clone())))
    }

    async fn list(&self, filter: &LicenseFilter, page: &PageRequest) -> Result<Page<License>, RepositoryError> {
        let state = self.state()?;
        let matching = state.licenses.iter().filter(|license| filter.matches(license)).cloned();
        Ok(page_of(matching, |license| license.id.to_string(), page))
    }

    async fn update(
        &self,
        license: &License,
        expected_version: i64,
        audit: &AuditEvent,
    ) -> Result<(), UpdateLicenseError> {
        self.state()?.update(license, expected_version, audit)
    }

    async fn update_once(
        &self,
        license: &License,
        expected_version: i64,
        effect: &str,
        audit: &AuditEvent,
    ) -> Result<(), UpdateLicenseError> {
        let mut state = self.state()?;
        if state.effects.contains(effect) {
            return Err(UpdateLicenseError::AlreadyApplied);
        }
        state.update(license, expected_version, audit)?;
        state.effects.insert(effect.to_owned());
        Ok(())
    }

    async fn find_by_subscription(
        &self,
        source: &str,
        subscription_id: &str,
    ) -> Result<Option<License>, RepositoryError> {
        Ok(self
            .state()?
            .licenses
            .iter()
            .find(|license| {
                license.source == source
                    && license.subscription.as_ref().is_some_and(|subscription| subscription.id == subscription_id)
            })
            .cloned())
    }

    async fn ping(&self) -> Result<(), RepositoryError> {
        self.state().map(drop)
    }
}

#[async_trait]
impl ActivationRepository for InMemoryLicenseRepository {
    async fn find_for_machine(
        &self,
        key: &LicenseKey,
        fingerprint: Option<&Fingerprint>,
    ) -> Result<Option<MachineView>, RepositoryError> {
        let state = self.state()?;
        let Some(license) = state.licenses.iter().find(|license| &license.key == key) else {
            return Ok(None);
        };
        let activation = fingerprint.and_then(|fingerprint| state.live(license.id, fingerprint)).cloned();
        Ok(Some(state.view(license, activation)))
    }

    async fn find_by_activation(&self, id: Uuid) -> Result<Option<MachineView>, RepositoryError> {
        let state = self.state()?;
        let Some(activation) = state.activations.iter().find(|activation| activation.id == id) else {
            return Ok(None);
        };
        let license = state.licenses.iter().find(|license| license.id == activation.license_id);
        Ok(license.map(|license| state.view(license, Some(activation.clone()))))
    }

    async fn live_activations(&self, license_id: Uuid) -> Result<Vec<Activation>, RepositoryError> {
        let state = self.state()?;
        let mut live: Vec<Activation> = state
            .activations
            .iter()
            .filter(|activation| activation.license_id == license_id && activation.is_live())
            .cloned()
            .collect();
        live.sort_by_key(|activation| activation.id);
        Ok(live)
    }

    async fn take_seat(
        &self,
        activation: &Activation,
        churn: Option<ChurnLimit>,
        audit: &AuditEvent,
    ) -> Result<SeatOutcome, RepositoryError> {
        let mut state = self.state()?;
        if let Some(existing) = state.live(activation.license_id, &activation.fingerprint) {
            return Ok(SeatOutcome::AlreadyActive(existing.clone()));
        }
        let Some(license) = state.licenses.iter().find(|license| license.id == activation.license_id) else {
            return Ok(SeatOutcome::NoSeatLeft);
        };
        let seats_used = state.seats_used(license.id);
        if license.state != LicenseState::Active || seats_used >= license.seats {
            return Ok(SeatOutcome::NoSeatLeft);
        }
        if let Some(churn) = churn {
            let deactivated = state
                .activations
                .iter()
                .filter(|other| {
                    other.license_id == license.id && other.deactivated_at.is_some_and(|at| at >= churn.since)
                })
                .count();
            if deactivated >= churn.limit as usize {
                return Ok(SeatOutcome::ChurnLimited);
            }
        }
        state.activations.push(activation.clone());
        state.audit.push(audit.clone());
        Ok(SeatOutcome::Taken { seats_used: seats_used + 1 })
    }

    async fn touch(&self, id: Uuid, at: OffsetDateTime, app_version: Option<&str>) -> Result<bool, RepositoryError> {
        let mut state = self.state()?;
        let Some(activation) =
            state.activations.iter_mut().find(|activation| activation.id == id && activation.is_live())
        else {
            return Ok(false);
        };
        activation.last_seen_at = at;
        if let Some(version) = app_version {
            activation.app_version = Some(version.to_owned());
        }
        Ok(true)
    }

    async fn release_seat(&self, id: Uuid, at: OffsetDateTime, audit: &AuditEvent) -> Result<bool, RepositoryError> {
        let mut state = self.state()?;
        let Some(activation) =
            state.activations.iter_mut().find(|activation| activation.id == id && activation.is_live())
        else {
            return Ok(false);
        };
        activation.deactivated_at = Some(at);
        state.audit.push(audit.clone());
        Ok(true)
    }
}

#[async_trait]
impl StorefrontEventLog for InMemoryLicenseRepository {
    async fn record(&self, event: &RecordedEvent) -> Result<(), RepositoryError> {
        self.state()?.events.push(event.clone());
        Ok(())
    }

    async fn finish(&self, id: Uuid, outcome: &EventOutcome, audit: &AuditEvent) -> Result<bool, RepositoryError> {
        let mut state = self.state()?;
        if state.events.iter().any(|event| event.id == id) {
            state.audit.push(audit.clone());
        }
        let Some(event) = state.events.iter_mut().find(|event| event.id == id) else { return Ok(false) };
        event.status = outcome.status;
        event.kind = outcome.kind.clone();
        event.dedupe_key = outcome.dedupe_key.clone();
        event.error = outcome.error.clone();
        event.license_key = outcome.license_key.clone();
        event.processed_at = Some(outcome.processed_at);
        event.attempts += 1;
        Ok(true)
    }

    async fn find_event(&self, id: Uuid) -> Result<Option<RecordedEvent>, RepositoryError> {
        Ok(self.state()?.events.iter().find(|event| event.id == id).cloned())
    }

    async fn list_events(
        &self,
        filter: &EventFilter,
        page: &PageRequest,
    ) -> Result<Page<RecordedEvent>, RepositoryError> {
        let state = self.state()?;
        let matching = state
            .events
            .iter()
            .filter(|event| {
                filter.storefront.as_ref().is_none_or(|storefront| &event.storefront == storefront)
                    && filter.status.is_none_or(|status| event.status == status)
            })
            .cloned();
        Ok(page_of(matching, |event| event.id.to_string(), page))
    }
}

#[async_trait]
impl AuditLog for InMemoryLicenseRepository {
    async fn list_audit(&self, filter: &AuditFilter, page: &PageRequest) -> Result<Page<AuditEvent>, RepositoryError> {
        let state = self.state()?;
        let matching = state.audit.iter().filter(|event| {
            filter.entity_type.as_ref().is_none_or(|value| &event.entity_type == value)
                && filter.entity_id.as_ref().is_none_or(|value| &event.entity_id == value)
                && filter.actor.as_ref().is_none_or(|value| &event.actor.to_string() == value)
                && filter.action.as_ref().is_none_or(|value| &event.action == value)
                && filter.since.is_none_or(|since| event.at >= since)
        });
        Ok(page_of(matching.cloned(), |event| event.id.to_string(), page))
    }
}

#[async_trait]
impl tessera_domain::stats::StatsReader for InMemoryLicenseRepository {
    async fn stats(&self, now: OffsetDateTime) -> Result<tessera_domain::stats::Stats, RepositoryError> {
        use tessera_domain::mail::DeliveryStatus;
        use tessera_domain::stats::{LicenseCount, Stats};
        let state = self.state()?;
        let mut licenses: Vec<LicenseCount> = Vec::new();
        for license in &state.licenses {
            let status = license.status_at(now);
            match licenses.iter_mut().find(|row| {
                row.product == license.product
                    && row.tier == license.tier
                    && row.status == status
                    && row.source == license.source
            }) {
                Some(row) => row.count += 1,
                None => licenses.push(LicenseCount {
                    product: license.product.clone(),
                    tier: license.tier.clone(),
                    status,
                    source: license.source.clone(),
                    count: 1,
                }),
            }
        }
        let deliveries = |status| state.deliveries.iter().filter(|d| d.status == status).count() as u64;
        let events = |status| state.events.iter().filter(|e| e.status == status).count() as u64;
        let minted_since = |since: OffsetDateTime| {
            state.audit.iter().filter(|event| event.action == "license.minted" && event.at >= since).count() as u64
        };
        Ok(Stats {
            licenses,
            active_machines: state.activations.iter().filter(|activation| activation.is_live()).count() as u64,
            deliveries_pending: deliveries(DeliveryStatus::Pending) + deliveries(DeliveryStatus::Sending),
            deliveries_failed: deliveries(DeliveryStatus::Failed),
            deliveries_sent: deliveries(DeliveryStatus::Sent),
            events_failed: events(tessera_domain::storefront::EventStatus::Failed),
            events_unprocessed: events(tessera_domain::storefront::EventStatus::Received),
            minted_last_24h: minted_since(now - time::Duration::days(1)),
            minted_last_30d: minted_since(now - time::Duration::days(30)),
        })
    }
}

#[async_trait]
impl tessera_domain::usage::UsageRepository for InMemoryLicenseRepository {
    async fn record_usage(&self, event: &tessera_domain::usage::UsageEvent) -> Result<(), RepositoryError> {
        self.state()?.usage.push(event.clone());
        Ok(())
    }

    async fn list_usage(
        &self,
        filter: &tessera_domain::usage::UsageFilter,
        page: &PageRequest,
    ) -> Result<Page<tessera_domain::usage::UsageEvent>, RepositoryError> {
        let state = self.state()?;
        let matching = state.usage.iter().filter(|event| filter.matches(event)).cloned();
        Ok(page_of(matching, |event| event.id.to_string(), page))
    }

    async fn create_flag(&self, flag: &tessera_domain::usage::Flag, audit: &AuditEvent) -> Result<(), RepositoryError> {
        let mut state = self.state()?;
        state.flags.push(flag.clone());
        state.audit.push(audit.clone());
        Ok(())
    }

    async fn list_flags(
        &self,
        filter: &tessera_domain::usage::FlagFilter,
        page: &PageRequest,
    ) -> Result<Page<tessera_domain::usage::Flag>, RepositoryError> {
        let state = self.state()?;
        let matching = state.flags.iter().filter(|flag| filter.matches(flag)).cloned();
        Ok(page_of(matching, |flag| flag.id.to_string(), page))
    }

    async fn find_flag(&self, id: Uuid) -> Result<Option<tessera_domain::usage::Flag>, RepositoryError> {
        Ok(self.state()?.flags.iter().find(|flag| flag.id == id).cloned())
    }

    async fn review_flag(
        &self,
        id: Uuid,
        review: &tessera_domain::usage::FlagReview,
        audit: &AuditEvent,
    ) -> Result<bool, RepositoryError> {
        let mut state = self.state()?;
        let open = tessera_domain::usage::FlagStatus::Open;
        let Some(flag) = state.flags.iter_mut().find(|flag| flag.id == id && flag.status == open) else {
            return Ok(false);
        };
        flag.status = review.status;
        flag.action = review.action.clone();
        flag.reviewed_at = Some(review.at);
        state.audit.push(audit.clone());
        Ok(true)
    }
}

#[async_trait]
impl tessera_domain::customer::CustomerRepository for InMemoryLicenseRepository {
    async fn create_customer(
        &self,
        customer: &tessera_domain::customer::Customer,
        audit: &AuditEvent,
    ) -> Result<(), tessera_domain::customer::CustomerStoreError> {
        let mut state = self.state()?;
        if state.customers.iter().any(|existing| existing.email == customer.email) {
            return Err(tessera_domain::customer::CustomerStoreError::EmailTaken);
        }
        state.customers.push(customer.clone());
        state.audit.push(audit.clone());
        Ok(())
    }

    async fn find_customer(
        &self,
        email: &tessera_domain::license::EmailAddress,
    ) -> Result<Option<tessera_domain::customer::Customer>, RepositoryError> {
        let state = self.state()?;
        Ok(state.customers.iter().find(|customer| &customer.email == email).map(|customer| state.with_count(customer)))
    }

    async fn list_customers(
        &self,
        filter: &tessera_domain::customer::CustomerFilter,
        page: &PageRequest,
    ) -> Result<Page<tessera_domain::customer::Customer>, RepositoryError> {
        let state = self.state()?;
        let query = filter.query.as_ref().map(|text| text.to_lowercase());
        let mut rows: Vec<_> = state
            .customers
            .iter()
            .filter(|customer| {
                query.as_ref().is_none_or(|text| {
                    customer.email.as_str().contains(text.as_str())
                        || customer.name.as_str().to_lowercase().contains(text.as_str())
                })
            })
            .filter(|customer| page.after.as_ref().is_none_or(|after| customer.email.as_str() > after.as_str()))
            .map(|customer| state.with_count(customer))
            .collect();
        rows.sort_by(|a, b| a.email.as_str().cmp(b.email.as_str()));
        rows.truncate(page.limit as usize + 1);
        Ok(Page::from_overfetch(rows, page.limit, |customer| customer.email.as_str().to_owned()))
    }

    async fn update_customer(
        &self,
        previous: &tessera_domain::license::EmailAddress,
        customer: &tessera_domain::customer::Customer,
        audit: &AuditEvent,
        licenses: &[(License, i64, AuditEvent)],
    ) -> Result<(), tessera_domain::customer::CustomerStoreError> {
        use tessera_domain::customer::CustomerStoreError;
        let mut state = self.state()?;
        if &customer.email != previous && state.customers.iter().any(|existing| existing.email == customer.email) {
            return Err(CustomerStoreError::EmailTaken);
        }
        let Some(index) = state.customers.iter().position(|existing| &existing.email == previous) else {
            return Err(CustomerStoreError::Conflict);
        };
        let current =
            |license: &License| state.licenses.iter().find(|stored| stored.id == license.id).map(|s| s.version);
        if licenses.iter().any(|(license, expected, _)| current(license) != Some(*expected)) {
            return Err(CustomerStoreError::Conflict);
        }
        state.customers[index] = customer.clone();
        for (license, expected, license_audit) in licenses {
            state.update(license, *expected, license_audit).map_err(|_| CustomerStoreError::Conflict)?;
        }
        state.audit.push(audit.clone());
        Ok(())
    }
}
