//! `ActivationRepository` on the in-memory store.

use async_trait::async_trait;
use tessera_domain::audit::AuditEvent;
use tessera_domain::license::{
    Activation, ActivationRepository, ChurnLimit, Fingerprint, LicenseKey, LicenseState, MachineView, SeatOutcome,
};
use tessera_domain::repository::RepositoryError;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::store::InMemoryStore;

#[async_trait]
impl ActivationRepository for InMemoryStore {
    async fn find_for_machine(
        &self,
        key: &LicenseKey,
        fingerprint: Option<&Fingerprint>,
    ) -> Result<Option<MachineView>, RepositoryError> {
        let state = self.state()?;
        let Some(license) = state.licenses.iter().find(|license| &license.key == key) else {
            return Ok(None);
        };
        let activation = fingerprint.and_then(|fingerprint| state.live(license.id, fingerprint)).cloned();
        Ok(Some(state.view(license, activation)))
    }

    async fn find_by_activation(&self, id: Uuid) -> Result<Option<MachineView>, RepositoryError> {
        let state = self.state()?;
        let Some(activation) = state.activations.iter().find(|activation| activation.id == id) else {
            return Ok(None);
        };
        let license = state.licenses.iter().find(|license| license.id == activation.license_id);
        Ok(license.map(|license| state.view(license, Some(activation.clone()))))
    }

    async fn live_activations(&self, license_id: Uuid) -> Result<Vec<Activation>, RepositoryError> {
        let state = self.state()?;
        let mut live: Vec<Activation> = state
            .activations
            .iter()
            .filter(|activation| activation.license_id == license_id && activation.is_live())
            .cloned()
            .collect();
        live.sort_by_key(|activation| activation.id);
        Ok(live)
    }

    async fn take_seat(
        &self,
        activation: &Activation,
        churn: Option<ChurnLimit>,
        audit: &AuditEvent,
    ) -> Result<SeatOutcome, RepositoryError> {
        let mut state = self.state()?;
        if let Some(existing) = state.live(activation.license_id, &activation.fingerprint) {
            return Ok(SeatOutcome::AlreadyActive(existing.clone()));
        }
        let Some(license) = state.licenses.iter().find(|license| license.id == activation.license_id) else {
            return Ok(SeatOutcome::NoSeatLeft);
        };
        let seats_used = state.seats_used(license.id);
        if license.state != LicenseState::Active || seats_used >= license.seats {
            return Ok(SeatOutcome::NoSeatLeft);
        }
        if let Some(churn) = churn {
            let deactivated = state
                .activations
                .iter()
                .filter(|other| {
                    other.license_id == license.id && other.deactivated_at.is_some_and(|at| at >= churn.since)
                })
                .count();
            if deactivated >= churn.limit as usize {
                return Ok(SeatOutcome::ChurnLimited);
            }
        }
        state.activations.push(activation.clone());
        state.audit.push(audit.clone());
        Ok(SeatOutcome::Taken { seats_used: seats_used + 1 })
    }

    async fn touch(&self, id: Uuid, at: OffsetDateTime, app_version: Option<&str>) -> Result<bool, RepositoryError> {
        let mut state = self.state()?;
        let Some(activation) =
            state.activations.iter_mut().find(|activation| activation.id == id && activation.is_live())
        else {
            return Ok(false);
        };
        activation.last_seen_at = at;
        if let Some(version) = app_version {
            activation.app_version = Some(version.to_owned());
        }
        Ok(true)
    }

    async fn release_seat(&self, id: Uuid, at: OffsetDateTime, audit: &AuditEvent) -> Result<bool, RepositoryError> {
        let mut state = self.state()?;
        let Some(activation) =
            state.activations.iter_mut().find(|activation| activation.id == id && activation.is_live())
        else {
            return Ok(false);
        };
        activation.deactivated_at = Some(at);
        state.audit.push(audit.clone());
        Ok(true)
    }
}
