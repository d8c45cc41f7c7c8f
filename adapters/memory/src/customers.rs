//! `CustomerRepository` on the in-memory store.

use async_trait::async_trait;
use tessera_domain::audit::AuditEvent;
use tessera_domain::license::License;
use tessera_domain::page::{Page, PageRequest};
use tessera_domain::repository::RepositoryError;

use crate::store::InMemoryStore;

#[async_trait]
impl tessera_domain::customer::CustomerRepository for InMemoryStore {
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
