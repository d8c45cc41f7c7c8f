use sea_orm::{DbErr, RuntimeErr, SqlErr};
use tessera_domain::repository::RepositoryError;

/// Sorts a database error into "unreachable now" and "unexpected".
pub(crate) fn repository_error(error: DbErr) -> RepositoryError {
    use sea_orm::sqlx::Error as Sqlx;
    let unavailable = match &error {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(inner)) | DbErr::Query(RuntimeErr::SqlxError(inner)) => {
            matches!(&**inner, Sqlx::Io(_) | Sqlx::PoolTimedOut | Sqlx::PoolClosed | Sqlx::Tls(_) | Sqlx::WorkerCrashed)
        }
        _ => false,
    };
    if unavailable {
        RepositoryError::unavailable(error)
    } else {
        RepositoryError::unexpected(error)
    }
}

/// The name of the unique index (Postgres) or column (SQLite) a write violated.
pub(crate) fn unique_violation(error: &DbErr) -> Option<String> {
    match error.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(message)) => Some(message),
        _ => None,
    }
}
