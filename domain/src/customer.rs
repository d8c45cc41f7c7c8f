//! Customers: the people licenses belong to, by email. A mint makes sure its
//! buyer exists as a customer; changing a customer's email or name re-signs
//! every license of theirs, so tokens, identity checks and redelivery follow.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::json;
use thiserror::Error;
use time::OffsetDateTime;

use crate::audit::{Actor, AuditEvent};
use crate::clock::{now_seconds, Clock};
use crate::issuance::{IssuanceService, SignError};
use crate::license::{CustomerName, EmailAddress, License, LicenseRepository};
use crate::page::{Page, PageRequest};
use crate::random::RandomSource;
use crate::repository::RepositoryError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    pub email: EmailAddress,
    pub name: CustomerName,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    /// How many licenses carry this email (filled in by reads).
    pub licenses: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerFilter {
    /// Case-insensitive substring of email or name.
    pub query: Option<String>,
}

#[derive(Debug, Error)]
pub enum CustomerStoreError {
    #[error("a customer with this email exists")]
    EmailTaken,
    #[error("the customer or one of their licenses changed meanwhile")]
    Conflict,
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// Stores customers. Licenses create their customer themselves (the license
/// stores insert it if absent, in the license's transaction).
///
/// Every method MUST return `RepositoryError::Unavailable` (wrapped where the
/// error type is wider) when the store cannot be reached and
/// `RepositoryError::Unexpected` for any other storage failure.
#[async_trait]
pub trait CustomerRepository: Send + Sync + 'static {
    /// MUST return `CustomerStoreError::EmailTaken` when the email exists.
    async fn create_customer(&self, customer: &Customer, audit: &AuditEvent) -> Result<(), CustomerStoreError>;

    async fn find_customer(&self, email: &EmailAddress) -> Result<Option<Customer>, RepositoryError>;

    /// By email, ascending; the cursor is the last email of the page.
    async fn list_customers(
        &self,
        filter: &CustomerFilter,
        page: &PageRequest,
    ) -> Result<Page<Customer>, RepositoryError>;

    /// Replaces customer `previous` by `customer` with `audit`, and writes each
    /// of `licenses` (only if still at the paired version) with its audit
    /// event, atomically. MUST
    /// return `CustomerStoreError::EmailTaken` when the new email belongs to
    /// another customer and `CustomerStoreError::Conflict` when the customer
    /// is gone or a license changed; on any error nothing is written.
    async fn update_customer(
        &self,
        previous: &EmailAddress,
        customer: &Customer,
        audit: &AuditEvent,
        licenses: &[(License, i64, AuditEvent)],
    ) -> Result<(), CustomerStoreError>;
}

#[derive(Debug, Error)]
pub enum CustomerError {
    #[error("no customer {0}")]
    NotFound(String),
    #[error("a customer with email {0} exists")]
    EmailTaken(String),
    #[error("the customer's licenses kept changing; try again")]
    Contended,
    #[error(transparent)]
    Signing(#[from] SignError),
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// Changes to a customer; `None` keeps the field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerChange {
    pub email: Option<EmailAddress>,
    pub name: Option<CustomerName>,
}

#[derive(Clone)]
pub struct CustomerService {
    customers: Arc<dyn CustomerRepository>,
    licenses: Arc<dyn LicenseRepository>,
    issuance: IssuanceService,
    clock: Arc<dyn Clock>,
    random: Arc<dyn RandomSource>,
}

impl CustomerService {
    pub fn new(
        customers: Arc<dyn CustomerRepository>,
        licenses: Arc<dyn LicenseRepository>,
        issuance: IssuanceService,
        clock: Arc<dyn Clock>,
        random: Arc<dyn RandomSource>,
    ) -> Self {
        Self { customers, licenses, issuance, clock, random }
    }

    fn audit(&self, actor: &Actor, action: &str, entity_id: &str, details: serde_json::Value) -> AuditEvent {
        let now = now_seconds(self.clock.as_ref());
        AuditEvent {
            id: crate::random::new_id(self.random.as_ref(), self.clock.now()),
            at: now,
            actor: actor.clone(),
            action: action.to_owned(),
            entity_type: "customer".to_owned(),
            entity_id: entity_id.to_owned(),
            details,
        }
    }

    pub async fn create(
        &self,
        email: EmailAddress,
        name: CustomerName,
        actor: Actor,
    ) -> Result<Customer, CustomerError> {
        let now = now_seconds(self.clock.as_ref());
        let customer = Customer { email, name, created_at: now, updated_at: now, licenses: 0 };
        let audit =
            self.audit(&actor, "customer.created", customer.email.as_str(), json!({"name": customer.name.as_str()}));
        match self.customers.create_customer(&customer, &audit).await {
            Ok(()) => Ok(customer),
            Err(CustomerStoreError::EmailTaken) => Err(CustomerError::EmailTaken(customer.email.as_str().to_owned())),
            Err(CustomerStoreError::Conflict) => Err(CustomerError::Contended),
            Err(CustomerStoreError::Repository(error)) => Err(error.into()),
        }
    }

    pub async fn get(&self, email: &EmailAddress) -> Result<Customer, CustomerError> {
        self.customers.find_customer(email).await?.ok_or_else(|| CustomerError::NotFound(email.as_str().to_owned()))
    }

    pub async fn list(&self, filter: &CustomerFilter, page: &PageRequest) -> Result<Page<Customer>, RepositoryError> {
        self.customers.list_customers(filter, page).await
    }

    /// Every license of the customer, newest first.
    pub async fn licenses_of(&self, email: &EmailAddress) -> Result<Vec<License>, RepositoryError> {
        crate::license::licenses_of(self.licenses.as_ref(), email, now_seconds(self.clock.as_ref())).await
    }

    /// Changes the customer's email and/or name, and re-signs each of their
    /// licenses with them, in one transaction (retried when a license changed).
    pub async fn update(
        &self,
        email: &EmailAddress,
        change: CustomerChange,
        actor: Actor,
    ) -> Result<Customer, CustomerError> {
        for _ in 0..5 {
            let current = self.get(email).await?;
            let now = now_seconds(self.clock.as_ref());
            let updated = Customer {
                email: change.email.clone().unwrap_or_else(|| current.email.clone()),
                name: change.name.clone().unwrap_or_else(|| current.name.clone()),
                updated_at: now,
                ..current.clone()
            };
            let mut licenses = Vec::new();
            let audit = self.audit(
                &actor,
                "customer.updated",
                updated.email.as_str(),
                json!({"previous_email": current.email.as_str(), "email": updated.email.as_str(), "name": updated.name.as_str()}),
            );
            for mut license in self.licenses_of(email).await? {
                let expected = license.version;
                license.email = updated.email.clone();
                license.name = updated.name.clone();
                license.version += 1;
                license.updated_at = now;
                license.token = self.issuance.resign(&license)?;
                let license_audit = AuditEvent::about_license(
                    self.random.as_ref(),
                    self.clock.now(),
                    &actor,
                    "license.customer_changed",
                    &license.key,
                    json!({"email": updated.email.as_str(), "name": updated.name.as_str()}),
                );
                licenses.push((license, expected, license_audit));
            }
            match self.customers.update_customer(email, &updated, &audit, &licenses).await {
                Ok(()) => return Ok(Customer { licenses: licenses.len() as u64, ..updated }),
                Err(CustomerStoreError::Conflict) => continue,
                Err(CustomerStoreError::EmailTaken) => {
                    return Err(CustomerError::EmailTaken(updated.email.as_str().to_owned()))
                }
                Err(CustomerStoreError::Repository(error)) => return Err(error.into()),
            }
        }
        Err(CustomerError::Contended)
    }
}
