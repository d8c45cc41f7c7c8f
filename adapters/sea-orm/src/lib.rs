//! Tessera's store on sea-orm: SQLite as the embedded default, Postgres for
//! production and scale-out. [`SeaOrmStore`] implements every storage port of
//! the domain (`tessera_domain::ports::Store`), one module per port:
//!
//! | module | port |
//! |---|---|
//! | `license_repository` | `LicenseRepository` |
//! | `activation_repository` | `ActivationRepository` |
//! | `audit_log` | `AuditLog` |
//! | `storefront_event_log` | `StorefrontEventLog` |
//! | `outbox` | `DeliveryRepository` |
//! | `stats` | `StatsReader` |
//! | `usage` | `UsageRepository` |
//! | `customers` | `CustomerRepository` |
//! | `releases` | `ReleaseRepository` |
//!
//! `rows` converts rows and domain values; `writes` holds the writes several
//! ports make inside their own transaction; `read_cache` keeps the views
//! validations and heartbeats read, and `inline_reads` runs those reads in
//! place on a SQLite file; `seat_claims` combines concurrent activations of
//! one license on Postgres, `sqlite_writes` concurrent one-call transactions
//! on SQLite, both queued by `runs`.
//!
//! Correctness rests on what both databases enforce: unique indexes (license
//! keys, idempotency keys) and conditional updates (`WHERE version = ?`) inside
//! transactions, never on `SELECT … FOR UPDATE`, a silent no-op on SQLite.

mod activation_repository;
mod audit_log;
mod connection;
mod customers;
mod entities;
mod errors;
mod inline_reads;
mod license_repository;
mod outbox;
mod paging;
mod read_cache;
mod releases;
mod rows;
mod runs;
mod seat_claims;
mod sqlite_writes;
mod stats;
mod store;
mod storefront_event_log;
pub mod test_support;
mod usage;
mod writes;

pub use connection::{connect, ConnectError, Database, DatabaseOptions, SqliteDurability};
pub use store::SeaOrmStore;
