use std::str::FromStr;
use std::time::Duration;

use sea_orm::sqlx::postgres::PgPoolOptions;
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, SqlxPostgresConnector, SqlxSqliteConnector, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;
use tessera_schema::Migrator;
use thiserror::Error;

/// Pool settings; the defaults suit one server on this repository's 2-core target.
#[derive(Debug, Clone)]
pub struct DatabaseOptions {
    /// Postgres connections (SQLite always has one writer and `sqlite_readers` readers).
    pub max_connections: u32,
    pub sqlite_readers: u32,
    /// How long a caller waits for a connection before the store counts as unavailable.
    pub acquire_timeout: Duration,
    /// How SQLite commits: durable (the default) or faster.
    pub sqlite_durability: SqliteDurability,
}

impl Default for DatabaseOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            sqlite_readers: 4,
            acquire_timeout: Duration::from_secs(5),
            sqlite_durability: SqliteDurability::default(),
        }
    }
}

/// What an acknowledged SQLite commit survives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SqliteDurability {
    /// `synchronous = FULL`: every commit is on disk before it is acknowledged,
    /// so a power loss or OS crash loses nothing that was answered 2xx.
    #[default]
    Full,
    /// `synchronous = NORMAL`: survives a crash of the server, but a power loss
    /// or OS crash can drop the last commits. Faster writes.
    Normal,
}

#[derive(Debug, Error)]
pub enum ConnectError {
    #[error("unsupported database URL `{0}`: use sqlite://… or postgres://…")]
    UnsupportedUrl(String),
    #[error("cannot open the database: {0}")]
    Open(String),
    #[error("cannot apply migrations: {0}")]
    Migrate(String),
}

/// A connected database: a writer and a reader handle. On Postgres both are the
/// same pool. On SQLite all writes go through a single connection, so writers
/// queue in the pool instead of failing with "database is locked", while WAL
/// lets the readers run alongside.
/// Postgres advisory lock key serialising migrations (`tessera` in ASCII).
const MIGRATION_LOCK_ID: i64 = 0x0074_6573_7365_7261;

#[derive(Debug, Clone)]
pub struct Database {
    pub(crate) writer: DatabaseConnection,
    pub(crate) reader: DatabaseConnection,
}

impl Database {
    pub fn backend(&self) -> DbBackend {
        self.writer.get_database_backend()
    }

    /// Applies every pending migration. Safe to call on an up-to-date database.
    ///
    /// On Postgres several servers may start at once: the migration runs in one
    /// transaction holding an advisory lock, so they apply it one after another
    /// (the later ones find nothing to do).
    pub async fn migrate(&self) -> Result<(), ConnectError> {
        let failed = |error: sea_orm::DbErr| ConnectError::Migrate(error.to_string());
        if self.backend() != DbBackend::Postgres {
            return Migrator::up(&self.writer, None).await.map_err(failed);
        }
        let txn = self.writer.begin().await.map_err(failed)?;
        txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})")).await.map_err(failed)?;
        Migrator::up(&txn, None).await.map_err(failed)?;
        txn.commit().await.map_err(failed)
    }

    /// Closes the pools, waiting for connections in use.
    pub async fn close(self) {
        let _ = self.reader.close().await;
        let _ = self.writer.close().await;
    }
}

/// A URL without its password, for logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{}://{user}:***@{}", &url[..scheme_end], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

/// Opens `url` (`sqlite://path?mode=rwc`, `sqlite::memory:`, `postgres://…`).
/// Does not migrate: call [`Database::migrate`].
pub async fn connect(url: &str, options: &DatabaseOptions) -> Result<Database, ConnectError> {
    let open = |error: sea_orm::sqlx::Error| ConnectError::Open(format!("{}: {error}", redact_url(url)));
    if url.starts_with("sqlite:") {
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let connect_options = SqliteConnectOptions::from_str(url)
            .map_err(open)?
            .journal_mode(SqliteJournalMode::Wal)
            // FULL syncs the WAL on every commit: an acknowledged sale or
            // activation survives a power loss. NORMAL only survives a crash of
            // the process, so it is the operator's explicit choice.
            .synchronous(match options.sqlite_durability {
                SqliteDurability::Full => SqliteSynchronous::Full,
                SqliteDurability::Normal => SqliteSynchronous::Normal,
            })
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let writer_pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect_options.clone())
            .await
            .map_err(open)?;
        let writer = SqlxSqliteConnector::from_sqlx_sqlite_pool(writer_pool);
        if in_memory {
            // Every connection to `:memory:` is its own database: share the one.
            return Ok(Database { reader: writer.clone(), writer });
        }
        let reader_pool = SqlitePoolOptions::new()
            .max_connections(options.sqlite_readers.max(1))
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect_options)
            .await
            .map_err(open)?;
        let reader = SqlxSqliteConnector::from_sqlx_sqlite_pool(reader_pool);
        Ok(Database { writer, reader })
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .min_connections(1)
            .acquire_timeout(options.acquire_timeout)
            .connect(url)
            .await
            .map_err(open)?;
        let connection = SqlxPostgresConnector::from_sqlx_postgres_pool(pool);
        Ok(Database { reader: connection.clone(), writer: connection })
    } else {
        Err(ConnectError::UnsupportedUrl(redact_url(url)))
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectionTrait, Statement};

    use super::*;

    async fn synchronous_of(durability: Option<SqliteDurability>) -> (i64, i64) {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("durability.db").display());
        let mut options = DatabaseOptions::default();
        if let Some(durability) = durability {
            options.sqlite_durability = durability;
        }
        let database = connect(&url, &options).await.expect("open SQLite");
        let pragma = |connection: DatabaseConnection| async move {
            let row = connection
                .query_one_raw(Statement::from_string(DbBackend::Sqlite, "PRAGMA synchronous"))
                .await
                .expect("PRAGMA synchronous")
                .expect("a row");
            row.try_get_by_index::<i64>(0).expect("an integer")
        };
        (pragma(database.writer.clone()).await, pragma(database.reader.clone()).await)
    }

    /// SQLite's codes: 1 = NORMAL, 2 = FULL. Every connection, writer and readers, gets the setting.
    #[tokio::test]
    async fn sqlite_commits_durably_unless_told_otherwise() {
        assert_eq!(synchronous_of(None).await, (2, 2), "the default is FULL");
        assert_eq!(synchronous_of(Some(SqliteDurability::Full)).await, (2, 2));
        assert_eq!(synchronous_of(Some(SqliteDurability::Normal)).await, (1, 1));
    }
}
