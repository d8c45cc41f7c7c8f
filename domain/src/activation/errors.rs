use thiserror::Error;
use uuid::Uuid;

use crate::issuance::{LeaseRejected, SignError};
use crate::repository::RepositoryError;

/// Why a license does not let a machine run. Shared by activate and heartbeat;
/// validate answers the same reasons as codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum Refusal {
    #[error("no license with this key")]
    NotFound,
    #[error("the license was revoked")]
    Revoked,
    #[error("the license is suspended")]
    Suspended,
    #[error("the license has expired")]
    Expired,
    #[error("the name or email does not match the license")]
    IdentityMismatch,
    #[error("this app version is not covered by the license")]
    VersionMismatch,
    #[error("this machine is not activated")]
    NoMachine,
}

impl Refusal {
    /// The stable code of contract §4.
    pub fn code(self) -> &'static str {
        match self {
            Self::NotFound => "NOT_FOUND",
            Self::Revoked => "REVOKED",
            Self::Suspended => "SUSPENDED",
            Self::Expired => "EXPIRED",
            Self::IdentityMismatch => "IDENTITY_MISMATCH",
            Self::VersionMismatch => "VERSION_MISMATCH",
            Self::NoMachine => "NO_MACHINE",
        }
    }
}

#[derive(Debug, Error)]
pub enum ActivateError {
    #[error(transparent)]
    Refused(Refusal),
    #[error("all {seats} seats of this license are in use; deactivate a machine first")]
    TooManyMachines { seats: u32 },
    #[error("too many activations after deactivations today (limit {limit} per 24 hours); try again later")]
    Churn { limit: u32 },
    #[error(transparent)]
    Repository(#[from] RepositoryError),
    #[error(transparent)]
    Sign(#[from] SignError),
}

#[derive(Debug, Error)]
pub enum HeartbeatError {
    #[error(transparent)]
    InvalidLease(#[from] LeaseRejected),
    #[error("the lease belongs to another machine")]
    FingerprintMismatch,
    #[error(transparent)]
    Refused(Refusal),
    #[error(transparent)]
    Repository(#[from] RepositoryError),
    #[error(transparent)]
    Sign(#[from] SignError),
}

#[derive(Debug, Error)]
pub enum DeactivateError {
    #[error(transparent)]
    InvalidLease(#[from] LeaseRejected),
    #[error("the lease belongs to another machine")]
    FingerprintMismatch,
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

#[derive(Debug, Error)]
pub enum AdminDeactivateError {
    #[error("no activation {0}")]
    NotFound(Uuid),
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

#[derive(Debug, Error)]
pub enum OwnedDeactivateError {
    /// No such activation, or it belongs to another owner's license.
    #[error("no activation {0}")]
    NotFound(Uuid),
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}
