//! The in-memory store: every port's data in one `State` behind one mutex, so
//! each operation is atomic as a database transaction would be. The port
//! implementations are in the sibling modules, one per port.

use std::collections::HashMap;
use std::sync::Mutex;

use tessera_domain::audit::AuditEvent;
use tessera_domain::license::{Activation, Fingerprint, IdempotencyRecord, License, MachineView, UpdateLicenseError};
use tessera_domain::mail::Delivery;
use tessera_domain::page::{Page, PageRequest};
use tessera_domain::repository::RepositoryError;
use tessera_domain::storefront::RecordedEvent;
use uuid::Uuid;

#[derive(Default)]
pub(crate) struct State {
    pub(crate) licenses: Vec<License>,
    pub(crate) activations: Vec<Activation>,
    pub(crate) events: Vec<RecordedEvent>,
    pub(crate) idempotency: HashMap<String, (usize, IdempotencyRecord)>,
    /// Once-only changes applied (`update_once`).
    pub(crate) effects: std::collections::HashSet<String>,
    pub(crate) deliveries: Vec<Delivery>,
    pub(crate) usage: Vec<tessera_domain::usage::UsageEvent>,
    pub(crate) customers: Vec<tessera_domain::customer::Customer>,
    pub(crate) flags: Vec<tessera_domain::usage::Flag>,
    pub(crate) releases: Vec<tessera_domain::release::Release>,
    pub(crate) artifacts: Vec<tessera_domain::release::Artifact>,
    pub(crate) audit: Vec<AuditEvent>,
}

/// Licenses and audit events in a `Vec` behind a mutex. One lock for every
/// operation makes each of them atomic, as a transaction would.
#[derive(Default)]
pub struct InMemoryStore {
    state: Mutex<State>,
    /// When set, every call fails as if the database were down.
    unavailable: std::sync::atomic::AtomicBool,
}

impl InMemoryStore {
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
    pub(crate) fn ensure_customer(&mut self, license: &License) {
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

    pub(crate) fn with_count(
        &self,
        customer: &tessera_domain::customer::Customer,
    ) -> tessera_domain::customer::Customer {
        let licenses = self.licenses.iter().filter(|license| license.email == customer.email).count() as u64;
        tessera_domain::customer::Customer { licenses, ..customer.clone() }
    }

    pub(crate) fn update(
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

    pub(crate) fn seats_used(&self, license_id: Uuid) -> u32 {
        self.activations.iter().filter(|activation| activation.license_id == license_id && activation.is_live()).count()
            as u32
    }

    pub(crate) fn live(&self, license_id: Uuid, fingerprint: &Fingerprint) -> Option<&Activation> {
        self.activations.iter().find(|activation| {
            activation.license_id == license_id && activation.is_live() && &activation.fingerprint == fingerprint
        })
    }

    pub(crate) fn view(&self, license: &License, activation: Option<Activation>) -> MachineView {
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
