//! Tessera's store on sea-orm: SQLite as the embedded default, Postgres for
//! production and scale-out. Implements the domain's `LicenseRepository` and
//! `AuditLog` ports as [`SeaOrmLicenseRepository`].
//!
//! Correctness rests on what both databases enforce: unique indexes (license
//! keys, idempotency keys) and conditional updates (`WHERE version = ?`) inside
//! transactions, never on `SELECT … FOR UPDATE`, a silent no-op on SQLite.

mod activation_repository;
mod connection;
mod customers;
mod entities;
mod errors;
mod license_repository;
mod outbox;
mod paging;
mod stats;
mod storefront_event_log;
pub mod test_support;
mod usage;

pub use connection::{connect, ConnectError, Database, DatabaseOptions, SqliteDurability};
pub use license_repository::SeaOrmLicenseRepository;
