//! The read side the operator's shells share (admin API, CLI, console): the
//! audit trail, the dashboard counts, the raw storefront events, and whether
//! the store answers. Reads only; every change goes through its use case.

use std::sync::Arc;

use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::{AuditEvent, AuditFilter, AuditLog};
use crate::clock::{now_seconds, Clock};
use crate::license::LicenseRepository;
use crate::page::{Page, PageRequest};
use crate::repository::RepositoryError;
use crate::stats::{day_start, DayCounts, Stats, StatsReader};
use crate::storefront::{EventFilter, RecordedEvent, StorefrontEventLog};

/// The dashboard's counts and the moment they describe.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsAsOf {
    pub stats: Stats,
    pub as_of: OffsetDateTime,
}

/// What the reports read from.
pub struct ReportDeps {
    pub audit: Arc<dyn AuditLog>,
    pub stats: Arc<dyn StatsReader>,
    pub events: Arc<dyn StorefrontEventLog>,
    /// Asked for the health check's round trip.
    pub licenses: Arc<dyn LicenseRepository>,
    pub clock: Arc<dyn Clock>,
}

#[derive(Clone)]
pub struct ReportService {
    audit: Arc<dyn AuditLog>,
    stats: Arc<dyn StatsReader>,
    events: Arc<dyn StorefrontEventLog>,
    licenses: Arc<dyn LicenseRepository>,
    clock: Arc<dyn Clock>,
}

impl ReportService {
    pub fn new(deps: ReportDeps) -> Self {
        let ReportDeps { audit, stats, events, licenses, clock } = deps;
        Self { audit, stats, events, licenses, clock }
    }

    /// Audit events matching `filter`, newest first.
    pub async fn audit(&self, filter: &AuditFilter, page: &PageRequest) -> Result<Page<AuditEvent>, RepositoryError> {
        self.audit.list_audit(filter, page).await
    }

    /// The dashboard's counts as of now.
    pub async fn stats(&self) -> Result<StatsAsOf, RepositoryError> {
        let as_of = now_seconds(self.clock.as_ref());
        Ok(StatsAsOf { stats: self.stats.stats(as_of).await?, as_of })
    }

    /// Mints, sales and activations for each of the last `days` UTC days
    /// (today the last), days without any included as zeros.
    pub async fn activity(&self, days: u16) -> Result<Vec<DayCounts>, RepositoryError> {
        let today = day_start(now_seconds(self.clock.as_ref()));
        let days = i64::from(days.max(1));
        let first = today - time::Duration::days(days - 1);
        let mut counted = self.stats.daily_counts(first).await?.into_iter().peekable();
        let mut series = Vec::new();
        for offset in 0..days {
            let day = (first + time::Duration::days(offset)).date();
            while counted.next_if(|counts| counts.day < day).is_some() {}
            let counts = counted.next_if(|counts| counts.day == day);
            series.push(counts.unwrap_or(DayCounts { day, mints: 0, sales: 0, activations: 0 }));
        }
        Ok(series)
    }

    /// Storefront deliveries matching `filter`, newest first.
    pub async fn storefront_events(
        &self,
        filter: &EventFilter,
        page: &PageRequest,
    ) -> Result<Page<RecordedEvent>, RepositoryError> {
        self.events.list_events(filter, page).await
    }

    /// One storefront delivery; `None` when there is none with `id`.
    pub async fn storefront_event(&self, id: Uuid) -> Result<Option<RecordedEvent>, RepositoryError> {
        self.events.find_event(id).await
    }

    /// One round trip to the store: `Ok` when it answers.
    pub async fn store_answers(&self) -> Result<(), RepositoryError> {
        self.licenses.ping().await
    }
}
