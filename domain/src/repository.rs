//! The error every storage port may return besides its own, use-case specific ones.

use thiserror::Error;

type Cause = Box<dyn std::error::Error + Send + Sync>;

/// A failure of the storage behind a port, as opposed to a rule of the domain.
#[derive(Debug, Error)]
pub enum RepositoryError {
    /// The store cannot be reached now (connection refused, pool exhausted,
    /// timeout). Callers may answer "try again later" (503).
    #[error("the database is unavailable")]
    Unavailable(#[source] Cause),
    /// Anything else: a bug, corrupt data, a constraint the domain did not expect.
    #[error("unexpected storage error")]
    Unexpected(#[source] Cause),
}

impl RepositoryError {
    pub fn unexpected(cause: impl Into<Cause>) -> Self {
        Self::Unexpected(cause.into())
    }

    pub fn unavailable(cause: impl Into<Cause>) -> Self {
        Self::Unavailable(cause.into())
    }
}
