use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use tessera_domain::audit::{AuditEvent, AuditFilter, AuditLog};
use tessera_domain::license::{
    CreateLicenseError, IdempotencyKey, IdempotencyRecord, License, LicenseFilter, LicenseKey, LicenseRepository,
    UpdateLicenseError,
};
use tessera_domain::page::{Page, PageRequest};
use tessera_domain::repository::RepositoryError;

#[derive(Default)]
struct State {
    licenses: Vec<License>,
    idempotency: HashMap<String, (usize, IdempotencyRecord)>,
    audit: Vec<AuditEvent>,
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

    fn state(&self) -> Result<std::sync::MutexGuard<'_, State>, RepositoryError> {
        if self.unavailable.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(RepositoryError::unavailable("in-memory store switched off"));
        }
        Ok(self.state.lock().expect("in-memory store lock"))
    }
}

/// Newest first by id (UUIDv7, time-ordered), strictly after the cursor.
fn page_of<T: Clone>(rows: impl Iterator<Item = T>, id_of: impl Fn(&T) -> String, page: &PageRequest) -> Page<T> {
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
        if let Some(record) = idempotency {
            if state.idempotency.contains_key(record.key.as_str()) {
                return Err(CreateLicenseError::IdempotencyKeyTaken);
            }
            let index = state.licenses.len();
            state.idempotency.insert(record.key.as_str().to_owned(), (index, record.clone()));
        }
        state.licenses.push(license.clone());
        state.audit.push(audit.clone());
        Ok(())
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
        let mut state = self.state()?;
        let stored = state
            .licenses
            .iter_mut()
            .find(|stored| stored.id == license.id)
            .ok_or_else(|| UpdateLicenseError::NotFound(license.key.clone()))?;
        if stored.version != expected_version {
            return Err(UpdateLicenseError::Conflict);
        }
        *stored = license.clone();
        state.audit.push(audit.clone());
        Ok(())
    }

    async fn ping(&self) -> Result<(), RepositoryError> {
        self.state().map(drop)
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
