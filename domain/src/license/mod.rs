//! The license port family: what a license and a machine activation are, and
//! the ports that store them: [`LicenseRepository`] and [`ActivationRepository`].

mod activation;
mod key;
mod model;
mod repository;

pub use activation::{
    Activation, ActivationRepository, AppVersion, AppVersionError, ChurnLimit, Fingerprint, FingerprintError,
    MachineName, MachineNameError, MachineView, Nonce, NonceError, Platform, PlatformError, SeatOutcome,
    APP_VERSION_PATTERN, MAX_APP_VERSION_LEN, MAX_FINGERPRINT_LEN, MAX_MACHINE_NAME_LEN, MAX_NONCE_LEN,
    MAX_PLATFORM_LEN, PRINTABLE_PATTERN, VISIBLE_ASCII_PATTERN,
};
pub use key::{generate_key, LicenseKey, LicenseKeyError, KEY_ALPHABET};
pub use model::*;
pub use repository::{licenses_of, CreateLicenseError, LicenseRepository, UpdateLicenseError};

/// License events for the audit log; here rather than in `audit`, which
/// knows nothing of licenses.
impl crate::audit::AuditEvent {
    /// An event about the license with `key`, with a fresh time-ordered id.
    /// Give the clock's precise time: ids made within one second stay in order.
    pub fn about_license(
        random: &dyn crate::random::RandomSource,
        at: time::OffsetDateTime,
        actor: &crate::audit::Actor,
        action: &str,
        key: &LicenseKey,
        details: serde_json::Value,
    ) -> Self {
        Self {
            id: crate::random::new_id(random, at),
            // Stored to the second like every timestamp; the id keeps the finer order.
            at: at.replace_nanosecond(0).unwrap_or(at),
            actor: actor.clone(),
            action: action.to_owned(),
            entity_type: "license".to_owned(),
            entity_id: key.to_string(),
            details,
        }
    }
}
