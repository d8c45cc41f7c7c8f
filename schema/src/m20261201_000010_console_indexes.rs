//! The console's dashboard, each read an index scan rather than a table scan:
//! licenses by product, tier, source and state (a covering index, so the
//! count streams in index order), mints and sales per UTC day and activations
//! per day (indexes on the day itself, `issued_at / 86400`, so the grouping
//! streams too), licenses expiring soon, mints in the last day and month
//! from the audit trail, the audit trail of one action newest first, and a
//! substring search of licenses and of customers.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: [(&str, &str); 8] = [
    ("ix_licenses_counts", "licenses (product, tier, source, state, expires_at)"),
    ("ix_licenses_issued_day", "licenses ((issued_at / 86400), source)"),
    ("ix_licenses_expires_at", "licenses (expires_at)"),
    ("ix_activations_activated_day", "activations ((activated_at / 86400))"),
    ("ix_audit_events_action_at", "audit_events (action, at)"),
    // The audit trail filtered by action, newest first, stops after one page.
    ("ix_audit_events_action_id", "audit_events (action, id)"),
    // A search for a substring of key, name or email scans this, newest first,
    // instead of the whole rows.
    ("ix_licenses_search", "licenses (id, key, name, email)"),
    // Customers are listed by email; a search reads email and name from this
    // index in that order instead of every row.
    ("ix_customers_search", "customers (email, name)"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, on) in INDEXES {
            manager.get_connection().execute_unprepared(&format!("CREATE INDEX {name} ON {on}")).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, _) in INDEXES {
            manager.get_connection().execute_unprepared(&format!("DROP INDEX {name}")).await?;
        }
        Ok(())
    }
}
