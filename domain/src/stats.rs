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
    /// Usage flags nobody has reviewed yet.
    pub flags_open: u64,
}

/// What happened on one UTC day, for the console's charts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayCounts {
    pub day: time::Date,
    /// Licenses minted, however (operator, sale, import).
    pub mints: u64,
    /// Licenses minted by a storefront sale (a source other than `admin` and `import`).
    pub sales: u64,
    /// Machines activated.
    pub activations: u64,
}

/// Reads the counts.
#[async_trait]
pub trait StatsReader: Send + Sync + 'static {
    /// The counts as of `now` (which decides which active licenses count as
    /// expired). MUST return `RepositoryError::Unavailable` when the store
    /// cannot be reached and `RepositoryError::Unexpected` otherwise.
    async fn stats(&self, now: OffsetDateTime) -> Result<Stats, RepositoryError>;

    /// Mints, sales and activations per UTC day, for the days from `since`'s
    /// day on that have any, oldest first (licenses by `issued_at`, machines by
    /// `activated_at`). MUST return `RepositoryError::Unavailable` when the store
    /// cannot be reached and `RepositoryError::Unexpected` otherwise.
    async fn daily_counts(&self, since: OffsetDateTime) -> Result<Vec<DayCounts>, RepositoryError>;
}

/// Whether a license of this source came from a storefront sale.
pub fn is_sale_source(source: &str) -> bool {
    source != "admin" && source != crate::license::IMPORT_SOURCE
}

/// The first second of `at`'s UTC day.
pub fn day_start(at: OffsetDateTime) -> OffsetDateTime {
    at.to_offset(time::UtcOffset::UTC).replace_time(time::Time::MIDNIGHT)
}
