//! The outbox in memory, under the same lock as the licenses: each method is
//! atomic, as a transaction would be.

use async_trait::async_trait;
use tessera_domain::audit::AuditEvent;
use tessera_domain::license::{CreateLicenseError, IdempotencyRecord, License};
use tessera_domain::mail::{Delivery, DeliveryFilter, DeliveryOutcome, DeliveryRepository, DeliveryStatus, Enqueued};
use tessera_domain::page::{Page, PageRequest};
use tessera_domain::repository::RepositoryError;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::store::page_of;
use crate::InMemoryStore;

#[async_trait]
impl DeliveryRepository for InMemoryStore {
    async fn enqueue(&self, delivery: &Delivery, audit: &AuditEvent) -> Result<Enqueued, RepositoryError> {
        let mut state = self.state()?;
        if let Some(key) = &delivery.dedupe_key {
            if let Some(existing) = state.deliveries.iter().find(|stored| stored.dedupe_key.as_ref() == Some(key)) {
                return Ok(Enqueued::Existing(existing.clone()));
            }
        }
        state.deliveries.push(delivery.clone());
        state.audit.push(audit.clone());
        Ok(Enqueued::New(delivery.clone()))
    }

    async fn create_license_with_delivery(
        &self,
        license: &License,
        idempotency: Option<&IdempotencyRecord>,
        license_audit: &AuditEvent,
        delivery: &Delivery,
        delivery_audit: &AuditEvent,
    ) -> Result<(), CreateLicenseError> {
        let mut state = self.state()?;
        // Under one lock: either everything is stored or, on a taken key, nothing.
        crate::licenses::insert_license(&mut state, license, idempotency, license_audit)?;
        state.deliveries.push(delivery.clone());
        state.audit.push(delivery_audit.clone());
        Ok(())
    }

    async fn claim_due(
        &self,
        now: OffsetDateTime,
        until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<Delivery>, RepositoryError> {
        let mut state = self.state()?;
        let mut due: Vec<&mut Delivery> = state
            .deliveries
            .iter_mut()
            .filter(|delivery| delivery.status == DeliveryStatus::Pending && delivery.next_attempt_at <= now)
            .collect();
        due.sort_by_key(|delivery| (delivery.next_attempt_at, delivery.id));
        Ok(due
            .into_iter()
            .take(limit as usize)
            .map(|delivery| {
                delivery.status = DeliveryStatus::Sending;
                delivery.attempts += 1;
                delivery.claimed_until = Some(until);
                delivery.updated_at = now;
                delivery.clone()
            })
            .collect())
    }

    async fn settle(
        &self,
        id: Uuid,
        attempt: u32,
        outcome: &DeliveryOutcome,
        audit: &AuditEvent,
    ) -> Result<bool, RepositoryError> {
        let mut state = self.state()?;
        let Some(delivery) = state.deliveries.iter_mut().find(|delivery| {
            delivery.id == id && delivery.status == DeliveryStatus::Sending && delivery.attempts == attempt
        }) else {
            return Ok(false);
        };
        delivery.status = outcome.status;
        delivery.next_attempt_at = outcome.next_attempt_at;
        delivery.last_error = outcome.last_error.clone();
        delivery.provider_message_id = outcome.provider_message_id.clone().or(delivery.provider_message_id.take());
        delivery.updated_at = outcome.at;
        delivery.claimed_until = None;
        if outcome.status == DeliveryStatus::Sent {
            delivery.sent_at = Some(outcome.at);
        }
        state.audit.push(audit.clone());
        Ok(true)
    }

    async fn fail_abandoned(&self, now: OffsetDateTime, error: &str) -> Result<Vec<Delivery>, RepositoryError> {
        let mut state = self.state()?;
        let mut abandoned = Vec::new();
        for delivery in state.deliveries.iter_mut().filter(|delivery| {
            delivery.status == DeliveryStatus::Sending && delivery.claimed_until.is_some_and(|until| until < now)
        }) {
            abandoned.push(delivery.clone());
            delivery.status = DeliveryStatus::Failed;
            delivery.last_error = Some(error.to_owned());
            delivery.claimed_until = None;
            delivery.updated_at = now;
        }
        Ok(abandoned)
    }

    async fn reschedule(
        &self,
        id: Uuid,
        expected: DeliveryStatus,
        now: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<bool, RepositoryError> {
        let mut state = self.state()?;
        let Some(delivery) =
            state.deliveries.iter_mut().find(|delivery| delivery.id == id && delivery.status == expected)
        else {
            return Ok(false);
        };
        delivery.status = DeliveryStatus::Pending;
        delivery.next_attempt_at = now;
        delivery.updated_at = now;
        state.audit.push(audit.clone());
        Ok(true)
    }

    async fn find_delivery(&self, id: Uuid) -> Result<Option<Delivery>, RepositoryError> {
        Ok(self.state()?.deliveries.iter().find(|delivery| delivery.id == id).cloned())
    }

    async fn list_deliveries(
        &self,
        filter: &DeliveryFilter,
        page: &PageRequest,
    ) -> Result<Page<Delivery>, RepositoryError> {
        let state = self.state()?;
        let matching = state.deliveries.iter().filter(|delivery| filter.matches(delivery)).cloned();
        Ok(page_of(matching, |delivery| delivery.id.to_string(), page))
    }
}
