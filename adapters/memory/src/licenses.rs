//! `LicenseRepository` on the in-memory store.

use async_trait::async_trait;
use tessera_domain::audit::AuditEvent;
use tessera_domain::license::{
    CreateLicenseError, IdempotencyKey, IdempotencyRecord, License, LicenseFilter, LicenseKey, LicenseRepository,
    UpdateLicenseError,
};
use tessera_domain::page::{Page, PageRequest};
use tessera_domain::repository::RepositoryError;

use crate::store::{page_of, InMemoryStore};

#[async_trait]
impl LicenseRepository for InMemoryStore {
    async fn create(
        &self,
        license: &License,
        idempotency: Option<&IdempotencyRecord>,
        audit: &AuditEvent,
    ) -> Result<(), CreateLicenseError> {
        insert_license(&mut *self.state()?, license, idempotency, audit)
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

/// Stores a new license as `LicenseRepository::create` does, in a state the
/// caller holds (so a caller can store more with it, all at once).
pub(crate) fn insert_license(
    state: &mut crate::store::State,
    license: &License,
    idempotency: Option<&IdempotencyRecord>,
    audit: &AuditEvent,
) -> Result<(), CreateLicenseError> {
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
