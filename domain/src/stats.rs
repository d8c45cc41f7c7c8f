//! Counts for the operator's dashboard (`GET /admin/v1/stats`).

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::license::LicenseStatus;
use crate::repository::RepositoryError;

/// How many licenses share one product, tier, status and source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseCount {
    pub product: String,
    pub tier: String,
    pub status: LicenseStatus,
    pub source: String,
    pub count: u64,
}

/// The counts at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// One row per (product, tier, status, source) that has licenses.
    pub licenses: Vec<LicenseCount>,
    /// Activations holding a seat now.
    pub active_machines: u64,
    pub deliveries_pending: u64,
    pub deliveries_failed: u64,
    pub deliveries_sent: u64,
    /// Storefront deliveries that failed, and those never processed.
    pub events_failed: u64,
    pub events_unprocessed: u64,
    /// Licenses minted (audit `license.minted`) since `now - 24 h` and `now - 30 d`.
    pub minted_last_24h: u64,
    pub minted_last_30d: u64,
}

/// Reads the counts.
#[async_trait]
pub trait StatsReader: Send + Sync + 'static {
    /// The counts as of `now` (which decides which active licenses count as
    /// expired). MUST return `RepositoryError::Unavailable` when the store
    /// cannot be reached and `RepositoryError::Unexpected` otherwise.
    async fn stats(&self, now: OffsetDateTime) -> Result<Stats, RepositoryError>;
}
