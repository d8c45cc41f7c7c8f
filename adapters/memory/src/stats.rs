//! `StatsReader` on the in-memory store.

use async_trait::async_trait;
use tessera_domain::repository::RepositoryError;
use time::OffsetDateTime;

use crate::store::InMemoryStore;

#[async_trait]
impl tessera_domain::stats::StatsReader for InMemoryStore {
    async fn stats(&self, now: OffsetDateTime) -> Result<tessera_domain::stats::Stats, RepositoryError> {
        use tessera_domain::mail::DeliveryStatus;
        use tessera_domain::stats::{LicenseCount, Stats};
        let state = self.state()?;
        let mut licenses: Vec<LicenseCount> = Vec::new();
        for license in &state.licenses {
            let status = license.status_at(now);
            match licenses.iter_mut().find(|row| {
                row.product == license.product
                    && row.tier == license.tier
                    && row.status == status
                    && row.source == license.source
            }) {
                Some(row) => row.count += 1,
                None => licenses.push(LicenseCount {
                    product: license.product.clone(),
                    tier: license.tier.clone(),
                    status,
                    source: license.source.clone(),
                    count: 1,
                }),
            }
        }
        let deliveries = |status| state.deliveries.iter().filter(|d| d.status == status).count() as u64;
        let events = |status| state.events.iter().filter(|e| e.status == status).count() as u64;
        let minted_since = |since: OffsetDateTime| {
            state.audit.iter().filter(|event| event.action == "license.minted" && event.at >= since).count() as u64
        };
        Ok(Stats {
            licenses,
            active_machines: state.activations.iter().filter(|activation| activation.is_live()).count() as u64,
            deliveries_pending: deliveries(DeliveryStatus::Pending) + deliveries(DeliveryStatus::Sending),
            deliveries_failed: deliveries(DeliveryStatus::Failed),
            deliveries_sent: deliveries(DeliveryStatus::Sent),
            events_failed: events(tessera_domain::storefront::EventStatus::Failed),
            events_unprocessed: events(tessera_domain::storefront::EventStatus::Received),
            minted_last_24h: minted_since(now - time::Duration::days(1)),
            minted_last_30d: minted_since(now - time::Duration::days(30)),
            flags_open: state.flags.iter().filter(|flag| flag.status == tessera_domain::usage::FlagStatus::Open).count()
                as u64,
        })
    }

    async fn daily_counts(
        &self,
        since: OffsetDateTime,
    ) -> Result<Vec<tessera_domain::stats::DayCounts>, RepositoryError> {
        use tessera_domain::stats::{day_start, is_sale_source, DayCounts};
        let since = day_start(since);
        let state = self.state()?;
        let mut days: std::collections::BTreeMap<time::Date, DayCounts> = std::collections::BTreeMap::new();
        fn day(days: &mut std::collections::BTreeMap<time::Date, DayCounts>, at: OffsetDateTime) -> &mut DayCounts {
            let date = at.to_offset(time::UtcOffset::UTC).date();
            days.entry(date).or_insert(DayCounts { day: date, mints: 0, sales: 0, activations: 0 })
        }
        for license in state.licenses.iter().filter(|license| license.issued_at >= since) {
            let entry = day(&mut days, license.issued_at);
            entry.mints += 1;
            entry.sales += u64::from(is_sale_source(&license.source));
        }
        for activation in state.activations.iter().filter(|activation| activation.activated_at >= since) {
            day(&mut days, activation.activated_at).activations += 1;
        }
        Ok(days.into_values().collect())
    }
}
