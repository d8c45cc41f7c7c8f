use async_trait::async_trait;
use thiserror::Error;

use time::OffsetDateTime;

use super::{EmailAddress, IdempotencyKey, IdempotencyRecord, License, LicenseFilter, LicenseKey};
use crate::audit::AuditEvent;
use crate::page::{Page, PageRequest};
use crate::repository::RepositoryError;

#[derive(Debug, Error)]
pub enum CreateLicenseError {
    #[error("a license with key {0} already exists")]
    KeyTaken(LicenseKey),
    #[error("another license was minted with this idempotency key")]
    IdempotencyKeyTaken,
    /// Another license of the same source follows this subscription.
    #[error("another license follows this subscription")]
    SubscriptionTaken,
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

#[derive(Debug, Error)]
pub enum UpdateLicenseError {
    #[error("no license with key {0}")]
    NotFound(LicenseKey),
    #[error("the license changed since it was read")]
    Conflict,
    /// The once-only change (e.g. one storefront charge) was applied before.
    #[error("this change was applied before")]
    AlreadyApplied,
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// Stores and finds licenses. Every write also stores its audit event, in the
/// same transaction: a change is never recorded without its event or vice versa.
///
/// Every method MUST return `RepositoryError::Unavailable` when the store cannot
/// be reached and `RepositoryError::Unexpected` for any other storage failure.
#[async_trait]
pub trait LicenseRepository: Send + Sync + 'static {
    /// Stores a new license, its idempotency record if any, and `audit`, atomically.
    /// MUST return `CreateLicenseError::KeyTaken` when a license with the same key
    /// exists and `CreateLicenseError::IdempotencyKeyTaken` when the idempotency
    /// key was used before, including by a concurrent call,
    /// `CreateLicenseError::SubscriptionTaken` when another license of the same
    /// source follows the same subscription; on any error nothing is stored.
    async fn create(
        &self,
        license: &License,
        idempotency: Option<&IdempotencyRecord>,
        audit: &AuditEvent,
    ) -> Result<(), CreateLicenseError>;

    /// Stores many new licenses and their audit events in one transaction, all
    /// or nothing. MUST return `CreateLicenseError::KeyTaken` (and store
    /// nothing) when any key exists, also when taken concurrently.
    async fn create_many(&self, licenses: &[License], audits: &[AuditEvent]) -> Result<(), CreateLicenseError>;

    /// Which of `keys` are taken by stored licenses.
    async fn existing_keys(&self, keys: &[LicenseKey]) -> Result<Vec<LicenseKey>, RepositoryError>;

    /// The license with `key`; `Ok(None)` when there is none.
    async fn find_by_key(&self, key: &LicenseKey) -> Result<Option<License>, RepositoryError>;

    /// The license minted under `key` and the request it answered; `Ok(None)` when
    /// the key was never used.
    async fn find_by_idempotency_key(
        &self,
        key: &IdempotencyKey,
    ) -> Result<Option<(License, IdempotencyRecord)>, RepositoryError>;

    /// Licenses matching `filter`, newest first. MUST return
    /// `RepositoryError::Unexpected` for a cursor this store did not produce.
    async fn list(&self, filter: &LicenseFilter, page: &PageRequest) -> Result<Page<License>, RepositoryError>;

    /// Replaces the stored license with `license` (whose `version` must already
    /// be `expected_version + 1`) and stores `audit`, atomically, only if the
    /// stored version is still `expected_version`. MUST return
    /// `UpdateLicenseError::NotFound` when no license has this id, and
    /// `UpdateLicenseError::Conflict` when another writer got there first; on any
    /// error nothing is written.
    async fn update(
        &self,
        license: &License,
        expected_version: i64,
        audit: &AuditEvent,
    ) -> Result<(), UpdateLicenseError>;

    /// Like [`Self::update`], and also records `effect` (a key naming a change
    /// that must happen once, such as `gumroad:charge:<sale id>`) in the same
    /// transaction. MUST return `UpdateLicenseError::AlreadyApplied` when
    /// `effect` was recorded before, also by a concurrent call, and then write
    /// nothing; otherwise the errors of `update`.
    async fn update_once(
        &self,
        license: &License,
        expected_version: i64,
        effect: &str,
        audit: &AuditEvent,
    ) -> Result<(), UpdateLicenseError>;

    /// The license that follows subscription `subscription_id` of storefront
    /// `source`; `Ok(None)` when there is none.
    async fn find_by_subscription(
        &self,
        source: &str,
        subscription_id: &str,
    ) -> Result<Option<License>, RepositoryError>;

    /// Succeeds when the store answers a trivial query.
    async fn ping(&self) -> Result<(), RepositoryError>;
}

/// Every license of `email`, newest first, read page by page.
pub async fn licenses_of(
    licenses: &dyn LicenseRepository,
    email: &EmailAddress,
    now: OffsetDateTime,
) -> Result<Vec<License>, RepositoryError> {
    let filter = LicenseFilter { email: Some(email.clone()), ..LicenseFilter::all(now) };
    let mut all = Vec::new();
    let mut page = PageRequest::first(500);
    loop {
        let found = licenses.list(&filter, &page).await?;
        all.extend(found.items);
        match found.next_cursor {
            Some(cursor) => page = PageRequest::new(Some(500), Some(cursor)),
            None => return Ok(all),
        }
    }
}
