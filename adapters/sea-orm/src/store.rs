//! The store: one type implementing every storage port of the domain on
//! sea-orm, for SQLite and Postgres alike. Each port is in its own module.

use crate::Database;

/// The license store on sea-orm, for SQLite and Postgres alike.
#[derive(Debug, Clone)]
pub struct SeaOrmStore {
    pub(crate) db: Database,
}

impl SeaOrmStore {
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}
