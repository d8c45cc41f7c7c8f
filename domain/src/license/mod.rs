//! The license port family: what a license and a machine activation are, and
//! the ports that store them: [`LicenseRepository`] and [`ActivationRepository`].

mod activation;
mod key;
mod model;
mod repository;

pub use activation::{
    Activation, ActivationRepository, AppVersion, AppVersionError, ChurnLimit, Fingerprint, FingerprintError,
    MachineView, SeatOutcome, MAX_FINGERPRINT_LEN,
};
pub use key::{generate_key, LicenseKey, LicenseKeyError, KEY_ALPHABET};
pub use model::*;
pub use repository::{licenses_of, CreateLicenseError, LicenseRepository, UpdateLicenseError};
