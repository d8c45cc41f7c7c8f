//! `/admin/v1/stats`: counts for the operator.

use std::collections::BTreeMap;
use std::sync::Arc;

use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi, Tags};
use tessera_domain::stats::Stats;
use time::OffsetDateTime;

use super::auth::AdminAuth;
use crate::http::errors::ReadFailure;
use crate::state::AppState;

#[derive(Tags)]
enum AdminTags {
    /// Counts for the operator.
    Stats,
}

#[derive(Debug, Object)]
pub struct LicenseCountBody {
    pub product: String,
    pub tier: String,
    /// `active`, `suspended`, `revoked` or `expired`.
    pub status: String,
    pub source: String,
    pub count: u64,
}

#[derive(Debug, Object)]
pub struct LicenseStatsBody {
    pub total: u64,
    pub by_product: BTreeMap<String, u64>,
    /// Keyed `product/tier`.
    pub by_tier: BTreeMap<String, u64>,
    pub by_status: BTreeMap<String, u64>,
    pub by_source: BTreeMap<String, u64>,
    /// Every (product, tier, status, source) with licenses.
    pub rows: Vec<LicenseCountBody>,
}

#[derive(Debug, Object)]
pub struct DeliveryStatsBody {
    /// Waiting or being sent.
    pub pending: u64,
    pub failed: u64,
    pub sent: u64,
}

#[derive(Debug, Object)]
pub struct EventStatsBody {
    pub failed: u64,
    /// Recorded but never processed (processing was cut short): replay them.
    pub unprocessed: u64,
}

#[derive(Debug, Object)]
pub struct MintStatsBody {
    pub last_24h: u64,
    pub last_30d: u64,
}

#[derive(Debug, Object)]
pub struct StatsBody {
    pub at: OffsetDateTime,
    pub licenses: LicenseStatsBody,
    /// Machines holding a seat now.
    pub active_machines: u64,
    pub deliveries: DeliveryStatsBody,
    pub storefront_events: EventStatsBody,
    pub minted: MintStatsBody,
}

impl StatsBody {
    fn of(stats: Stats, at: OffsetDateTime) -> Self {
        let mut licenses = LicenseStatsBody {
            total: 0,
            by_product: BTreeMap::new(),
            by_tier: BTreeMap::new(),
            by_status: BTreeMap::new(),
            by_source: BTreeMap::new(),
            rows: Vec::new(),
        };
        for row in stats.licenses {
            licenses.total += row.count;
            *licenses.by_product.entry(row.product.clone()).or_default() += row.count;
            *licenses.by_tier.entry(format!("{}/{}", row.product, row.tier)).or_default() += row.count;
            *licenses.by_status.entry(row.status.to_string()).or_default() += row.count;
            *licenses.by_source.entry(row.source.clone()).or_default() += row.count;
            licenses.rows.push(LicenseCountBody {
                product: row.product,
                tier: row.tier,
                status: row.status.to_string(),
                source: row.source,
                count: row.count,
            });
        }
        Self {
            at,
            licenses,
            active_machines: stats.active_machines,
            deliveries: DeliveryStatsBody {
                pending: stats.deliveries_pending,
                failed: stats.deliveries_failed,
                sent: stats.deliveries_sent,
            },
            storefront_events: EventStatsBody { failed: stats.events_failed, unprocessed: stats.events_unprocessed },
            minted: MintStatsBody { last_24h: stats.minted_last_24h, last_30d: stats.minted_last_30d },
        }
    }
}

#[derive(Default)]
pub struct StatsApi;

#[OpenApi(tag = "AdminTags::Stats")]
impl StatsApi {
    /// Licenses by product, tier, status and source; machines; the outbox; failed events; recent mints.
    #[oai(path = "/admin/v1/stats", method = "get", operation_id = "getStats")]
    async fn get(&self, state: Data<&Arc<AppState>>, _auth: AdminAuth) -> Result<Json<StatsBody>, ReadFailure> {
        let report = state.reports.stats().await?;
        Ok(Json(StatsBody::of(report.stats, report.as_of)))
    }
}
