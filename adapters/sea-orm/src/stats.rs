//! The operator's counts, each one aggregate query (portable SQL: SQLite and
//! Postgres both take ordinal `GROUP BY` and `CAST(… AS BIGINT)`).

use async_trait::async_trait;
use sea_orm::{ConnectionTrait, QueryResult, Statement};
use tessera_domain::repository::RepositoryError;
use tessera_domain::stats::{DayCounts, LicenseCount, Stats, StatsReader};
use time::OffsetDateTime;

use crate::errors::repository_error;
use crate::rows::{corrupt, timestamp};
use crate::SeaOrmStore;

fn count(row: &QueryResult, index: usize) -> Result<u64, RepositoryError> {
    let value: i64 = row.try_get_by_index(index).map_err(|error| corrupt("count", error))?;
    u64::try_from(value).map_err(|error| corrupt("count", error))
}

fn text(row: &QueryResult, index: usize) -> Result<String, RepositoryError> {
    row.try_get_by_index(index).map_err(|error| corrupt("stats column", error))
}

impl SeaOrmStore {
    async fn rows(&self, sql: String) -> Result<Vec<QueryResult>, RepositoryError> {
        let backend = self.db.reader.get_database_backend();
        self.db.reader.query_all_raw(Statement::from_string(backend, sql)).await.map_err(repository_error)
    }

    async fn single_count(&self, sql: String) -> Result<u64, RepositoryError> {
        match self.rows(sql).await?.first() {
            Some(row) => count(row, 0),
            None => Ok(0),
        }
    }
}

#[async_trait]
impl StatsReader for SeaOrmStore {
    async fn stats(&self, now: OffsetDateTime) -> Result<Stats, RepositoryError> {
        // Every value inlined below is an integer or a fixed word, never input.
        let now_s = timestamp(now);
        // Grouped in the order of `ix_licenses_counts`, so it streams; the
        // expired ones among the active are a sum, not another group.
        let license_rows = self
            .rows(format!(
                "SELECT product, tier, source, state, CAST(COUNT(*) AS BIGINT), \
                 CAST(SUM(CASE WHEN state = 'active' AND expires_at IS NOT NULL AND expires_at <= {now_s} THEN 1 ELSE 0 END) AS BIGINT) \
                 FROM licenses GROUP BY product, tier, source, state ORDER BY product, tier, source, state"
            ))
            .await?;
        let mut licenses = Vec::with_capacity(license_rows.len());
        for row in &license_rows {
            let (product, tier, source) = (text(row, 0)?, text(row, 1)?, text(row, 2)?);
            let state: tessera_domain::license::LicenseStatus =
                text(row, 3)?.parse().map_err(|error| corrupt("license state", error))?;
            let (all, expired) = (count(row, 4)?, count(row, 5)?);
            let mut push = |status, count| {
                if count > 0 {
                    licenses.push(LicenseCount {
                        product: product.clone(),
                        tier: tier.clone(),
                        source: source.clone(),
                        status,
                        count,
                    });
                }
            };
            push(state, all - expired);
            push(tessera_domain::license::LicenseStatus::Expired, expired);
        }
        licenses.sort_by(|a, b| {
            (&a.product, &a.tier, &a.source, a.status.as_str()).cmp(&(
                &b.product,
                &b.tier,
                &b.source,
                b.status.as_str(),
            ))
        });
        let mut stats = Stats { licenses, ..Default::default() };
        stats.active_machines = self
            .single_count("SELECT CAST(COUNT(*) AS BIGINT) FROM activations WHERE deactivated_at IS NULL".into())
            .await?;
        for row in self.rows("SELECT status, CAST(COUNT(*) AS BIGINT) FROM deliveries GROUP BY 1".into()).await? {
            let n = count(&row, 1)?;
            match text(&row, 0)?.as_str() {
                "pending" | "sending" => stats.deliveries_pending += n,
                "failed" => stats.deliveries_failed += n,
                "sent" => stats.deliveries_sent += n,
                _ => {}
            }
        }
        for row in self.rows("SELECT status, CAST(COUNT(*) AS BIGINT) FROM storefront_events GROUP BY 1".into()).await?
        {
            match text(&row, 0)?.as_str() {
                "failed" => stats.events_failed = count(&row, 1)?,
                "received" => stats.events_unprocessed = count(&row, 1)?,
                _ => {}
            }
        }
        let minted_since = |seconds: i64| {
            format!(
                "SELECT CAST(COUNT(*) AS BIGINT) FROM audit_events WHERE action = 'license.minted' AND at >= {}",
                now_s - seconds
            )
        };
        stats.minted_last_24h = self.single_count(minted_since(86_400)).await?;
        stats.minted_last_30d = self.single_count(minted_since(30 * 86_400)).await?;
        stats.flags_open =
            self.single_count("SELECT CAST(COUNT(*) AS BIGINT) FROM flags WHERE status = 'open'".into()).await?;
        Ok(stats)
    }

    async fn daily_counts(&self, since: OffsetDateTime) -> Result<Vec<DayCounts>, RepositoryError> {
        // Integer division by 86 400 is the UTC day on both databases; written
        // exactly as the expression indexes of migration 000010, so both reads
        // are index range scans grouped in index order.
        let since_day = timestamp(tessera_domain::stats::day_start(since)) / 86_400;
        let mut days: std::collections::BTreeMap<i64, DayCounts> = std::collections::BTreeMap::new();
        fn day<'a>(
            days: &'a mut std::collections::BTreeMap<i64, DayCounts>,
            row: &QueryResult,
        ) -> Result<&'a mut DayCounts, RepositoryError> {
            let number: i64 = row.try_get_by_index(0).map_err(|error| corrupt("day", error))?;
            let date =
                OffsetDateTime::from_unix_timestamp(number * 86_400).map_err(|error| corrupt("day", error))?.date();
            Ok(days.entry(number).or_insert(DayCounts { day: date, mints: 0, sales: 0, activations: 0 }))
        }
        let license_rows = self
            .rows(format!(
                "SELECT CAST(issued_at / 86400 AS BIGINT), CAST(COUNT(*) AS BIGINT), \
                 CAST(SUM(CASE WHEN source IN ('admin', '{import}') THEN 0 ELSE 1 END) AS BIGINT) \
                 FROM licenses WHERE (issued_at / 86400) >= {since_day} GROUP BY (issued_at / 86400)",
                import = tessera_domain::license::IMPORT_SOURCE
            ))
            .await?;
        for row in &license_rows {
            let entry = day(&mut days, row)?;
            entry.mints = count(row, 1)?;
            entry.sales = count(row, 2)?;
        }
        let activation_rows = self
            .rows(format!(
                "SELECT CAST(activated_at / 86400 AS BIGINT), CAST(COUNT(*) AS BIGINT) \
                 FROM activations WHERE (activated_at / 86400) >= {since_day} GROUP BY (activated_at / 86400)"
            ))
            .await?;
        for row in &activation_rows {
            day(&mut days, row)?.activations = count(row, 1)?;
        }
        Ok(days.into_values().collect())
    }
}
