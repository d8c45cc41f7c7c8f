use sea_orm::{DbErr, RuntimeErr, SqlErr};
use tessera_domain::repository::RepositoryError;

/// Sorts a database error into "unreachable now" and "unexpected".
pub(crate) fn repository_error(error: DbErr) -> RepositoryError {
    use sea_orm::sqlx::Error as Sqlx;
    let unavailable = match &error {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(inner)) | DbErr::Query(RuntimeErr::SqlxError(inner)) => match &**inner {
            Sqlx::Io(_) | Sqlx::PoolTimedOut | Sqlx::PoolClosed | Sqlx::Tls(_) | Sqlx::WorkerCrashed => true,
            Sqlx::Database(database) => cannot_write_now(database.code().as_deref()),
            _ => false,
        },
        _ => false,
    };
    if unavailable {
        RepositoryError::unavailable(error)
    } else {
        RepositoryError::unexpected(error)
    }
}

/// Database errors that say the store cannot take writes right now — a full
/// disk, a read-only database or file system, a server shutting down — rather
/// than that the request is wrong: the caller may retry later.
fn cannot_write_now(code: Option<&str>) -> bool {
    // SQLite primary result codes (extended codes keep them in the low byte):
    // 8 SQLITE_READONLY, 10 SQLITE_IOERR, 13 SQLITE_FULL.
    // Postgres SQLSTATE: 53100 disk_full, 25006 read_only_sql_transaction,
    // class 57P (operator intervention, e.g. admin_shutdown).
    match code {
        Some("53100" | "25006") => true,
        Some(code) if code.starts_with("57P") => true,
        Some(code) => code.parse::<u32>().is_ok_and(|number| matches!(number & 0xff, 8 | 10 | 13)),
        None => false,
    }
}

/// The name of the unique index (Postgres) or column (SQLite) a write violated.
pub(crate) fn unique_violation(error: &DbErr) -> Option<String> {
    match error.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(message)) => Some(message),
        _ => None,
    }
}

/// A failed write, from sea-orm or from SQLite's one-call transactions.
pub(crate) trait WriteFailure {
    /// What [`unique_violation`] says of it.
    fn unique_violation(&self) -> Option<String>;
    /// What [`repository_error`] says of it.
    fn into_repository_error(self) -> RepositoryError;
}

impl WriteFailure for DbErr {
    fn unique_violation(&self) -> Option<String> {
        unique_violation(self)
    }

    fn into_repository_error(self) -> RepositoryError {
        repository_error(self)
    }
}

impl WriteFailure for crate::sqlite_writes::WriteError {
    fn unique_violation(&self) -> Option<String> {
        crate::sqlite_writes::WriteError::unique_violation(self)
    }

    fn into_repository_error(self) -> RepositoryError {
        self.into()
    }
}
