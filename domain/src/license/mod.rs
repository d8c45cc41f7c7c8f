//! The license port family: what a license is, and the [`LicenseRepository`]
//! port that stores and finds licenses.

mod key;
mod model;
mod repository;

pub use key::{generate_key, LicenseKey, LicenseKeyError, KEY_ALPHABET};
pub use model::*;
pub use repository::{CreateLicenseError, LicenseRepository, UpdateLicenseError};
