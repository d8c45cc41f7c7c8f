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
