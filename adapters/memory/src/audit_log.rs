//! `AuditLog` on the in-memory store.

use async_trait::async_trait;
use tessera_domain::audit::{AuditEvent, AuditFilter, AuditLog};
use tessera_domain::page::{Page, PageRequest};
use tessera_domain::repository::RepositoryError;

use crate::store::{page_of, InMemoryStore};

#[async_trait]
impl AuditLog for InMemoryStore {
    async fn list_audit(&self, filter: &AuditFilter, page: &PageRequest) -> Result<Page<AuditEvent>, RepositoryError> {
        let state = self.state()?;
        let matching = state.audit.iter().filter(|event| filter.matches(event));
        Ok(page_of(matching.cloned(), |event| event.id.to_string(), page))
    }

    async fn append(&self, event: &AuditEvent) -> Result<(), RepositoryError> {
        self.state()?.audit.push(event.clone());
        Ok(())
    }
}
