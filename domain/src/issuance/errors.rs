//! One error enum per use case.

use thiserror::Error;

use super::SignError;
use crate::license::{CreateLicenseError, LicenseKey, LicenseStatus};
use crate::repository::RepositoryError;

#[derive(Debug, Error)]
pub enum MintError {
    #[error("unknown product `{0}`")]
    UnknownProduct(String),
    #[error("product `{product}` has no tier `{tier}`")]
    UnknownTier { product: String, tier: String },
    #[error("seats must be between 1 and {}", crate::license::MAX_SEATS)]
    InvalidSeats,
    #[error("{0}")]
    InvalidTerm(String),
    #[error("{0}")]
    InvalidField(String),
    #[error("a license with key {0} already exists")]
    KeyTaken(LicenseKey),
    #[error("this Idempotency-Key was used for a different request")]
    IdempotencyKeyReused,
    #[error(transparent)]
    Signing(#[from] SignError),
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

impl From<CreateLicenseError> for MintError {
    fn from(error: CreateLicenseError) -> Self {
        match error {
            CreateLicenseError::KeyTaken(key) => Self::KeyTaken(key),
            CreateLicenseError::IdempotencyKeyTaken => Self::IdempotencyKeyReused,
            CreateLicenseError::SubscriptionTaken => {
                Self::InvalidField("another license already follows this subscription".into())
            }
            CreateLicenseError::Repository(error) => Self::Repository(error),
        }
    }
}

#[derive(Debug, Error)]
pub enum GetLicenseError {
    #[error("no license with key {0}")]
    NotFound(LicenseKey),
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

#[derive(Debug, Error)]
pub enum ListLicensesError {
    #[error("the cursor is not one this server produced")]
    InvalidCursor,
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// Revoke, suspend and reinstate: the same shape of failure.
#[derive(Debug, Error)]
pub enum ChangeStateError {
    #[error("no license with key {0}")]
    NotFound(LicenseKey),
    #[error("cannot {action} a license that is {status}")]
    InvalidTransition { action: &'static str, status: LicenseStatus },
    #[error("a reason is 1-500 characters without control characters")]
    InvalidReason,
    #[error("the license kept changing; try again")]
    Contended,
    /// A change that alters the signed claims (a subscription's end) could not re-sign.
    #[error(transparent)]
    Signing(#[from] SignError),
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// Moving a license to another tier of its product (a storefront plan change).
#[derive(Debug, Error)]
pub enum ChangeTierError {
    #[error("no license with key {0}")]
    NotFound(LicenseKey),
    #[error("product `{product}` has no tier `{tier}`")]
    UnknownTier { product: String, tier: String },
    #[error("license {key} is a license of `{actual}`, not of `{expected}`")]
    OtherProduct { key: LicenseKey, expected: String, actual: String },
    /// Already on that tier (a redelivery, or the operator moved it first).
    #[error("the license is already on tier `{0}`")]
    AlreadyOnTier(String),
    #[error("cannot change the tier of a license that is revoked")]
    Revoked,
    #[error("the license kept changing; try again")]
    Contended,
    #[error(transparent)]
    Signing(#[from] SignError),
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

#[derive(Debug, Error)]
pub enum RenewError {
    #[error("no license with key {0}")]
    NotFound(LicenseKey),
    #[error("cannot renew a license that is revoked")]
    Revoked,
    /// The subscription was cancelled or ended: its charges no longer extend it.
    #[error("the license's subscription no longer renews (cancelled or ended)")]
    NotRenewing,
    /// This charge extended the license before.
    #[error("this charge was applied before")]
    AlreadyApplied,
    #[error("{0}")]
    InvalidTerm(String),
    #[error("the license kept changing; try again")]
    Contended,
    #[error(transparent)]
    Signing(#[from] SignError),
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}
