//! Tessera's database schema as sea-orm migrations, portable across SQLite and
//! Postgres. Applied at server start-up and by `tessera-server migrate`.

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_licenses;
mod m20261123_000002_activations;
mod m20261123_000003_license_app_versions;
mod m20261123_000004_storefront_events;
mod m20261123_000005_subscriptions_and_outbox;
mod m20261123_000006_usage_and_flags;
mod m20261123_000007_customers;
mod m20261123_000008_machine_names;
mod m20261201_000009_wider_audit_entity;
mod m20261201_000010_console_indexes;
mod m20261202_000011_releases;
mod m20261203_000012_machine_lookup;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_licenses::Migration),
            Box::new(m20261123_000002_activations::Migration),
            Box::new(m20261123_000003_license_app_versions::Migration),
            Box::new(m20261123_000004_storefront_events::Migration),
            Box::new(m20261123_000005_subscriptions_and_outbox::Migration),
            Box::new(m20261123_000006_usage_and_flags::Migration),
            Box::new(m20261123_000007_customers::Migration),
            Box::new(m20261123_000008_machine_names::Migration),
            Box::new(m20261201_000009_wider_audit_entity::Migration),
            Box::new(m20261201_000010_console_indexes::Migration),
            Box::new(m20261202_000011_releases::Migration),
            Box::new(m20261203_000012_machine_lookup::Migration),
        ]
    }
}
