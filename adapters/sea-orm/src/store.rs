//! The store: one type implementing every storage port of the domain on
//! sea-orm, for SQLite and Postgres alike. Each port is in its own module.

use std::sync::Arc;

use crate::seat_claims::SeatClaims;
use crate::Database;

/// The license store on sea-orm, for SQLite and Postgres alike.
#[derive(Debug, Clone)]
pub struct SeaOrmStore {
    pub(crate) db: Database,
    /// Postgres: activations of one license waiting to be claimed together.
    pub(crate) seat_claims: Arc<SeatClaims>,
}

impl SeaOrmStore {
    pub fn new(db: Database) -> Self {
        Self { db, seat_claims: Arc::default() }
    }
}
