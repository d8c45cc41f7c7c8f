//! `UsageRepository` on the in-memory store.

use async_trait::async_trait;
use tessera_domain::audit::AuditEvent;
use tessera_domain::page::{Page, PageRequest};
use tessera_domain::repository::RepositoryError;
use uuid::Uuid;

use crate::store::{page_of, InMemoryStore};

#[async_trait]
impl tessera_domain::usage::UsageRepository for InMemoryStore {
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
