//! `StorefrontEventLog` on the in-memory store.

use async_trait::async_trait;
use tessera_domain::audit::AuditEvent;
use tessera_domain::license::CreateLicenseError;
use tessera_domain::page::{Page, PageRequest};
use tessera_domain::repository::RepositoryError;
use tessera_domain::storefront::{EventFilter, EventOutcome, FinishedSale, RecordedEvent, StorefrontEventLog};
use uuid::Uuid;

use crate::store::{page_of, InMemoryStore};

#[async_trait]
impl StorefrontEventLog for InMemoryStore {
    async fn record(&self, event: &RecordedEvent) -> Result<(), RepositoryError> {
        self.state()?.events.push(event.clone());
        Ok(())
    }

    async fn finish(&self, id: Uuid, outcome: &EventOutcome, audit: &AuditEvent) -> Result<bool, RepositoryError> {
        let mut state = self.state()?;
        finish_in(&mut state, id, outcome, audit)
    }

    async fn create_license_and_finish(&self, sale: &FinishedSale<'_>) -> Result<(), CreateLicenseError> {
        let mut state = self.state()?;
        // Under one lock: everything is stored or, on a taken key, nothing.
        crate::licenses::insert_license(&mut state, sale.license, sale.idempotency, sale.license_audit)?;
        state.deliveries.push(sale.delivery.clone());
        state.audit.push(sale.delivery_audit.clone());
        finish_in(&mut state, sale.event_id, sale.outcome, sale.outcome_audit)?;
        Ok(())
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

fn finish_in(
    state: &mut crate::store::State,
    id: Uuid,
    outcome: &EventOutcome,
    audit: &AuditEvent,
) -> Result<bool, RepositoryError> {
    let Some(event) = state.events.iter_mut().find(|event| event.id == id) else { return Ok(false) };
    event.status = outcome.status;
    event.kind = outcome.kind.clone();
    event.dedupe_key = outcome.dedupe_key.clone();
    event.error = outcome.error.clone();
    event.license_key = outcome.license_key.clone();
    event.processed_at = Some(outcome.processed_at);
    event.attempts += 1;
    state.audit.push(audit.clone());
    Ok(true)
}
