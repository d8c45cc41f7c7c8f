use thiserror::Error;

use super::LicenseClaims;

#[derive(Debug, Error)]
#[error("signing failed: {0}")]
pub struct SignError(pub String);

/// Signs tokens with the active signing key. Synchronous: an Ed25519 signature
/// takes microseconds, far less than a context switch.
pub trait Signer: Send + Sync + 'static {
    /// Signs `claims` as a compact JWS with `typ` [`super::LICENSE_TOKEN_TYPE`] and
    /// the active key's `kid`. MUST return `SignError` only when the key cannot
    /// sign (a broken key); valid claims never fail otherwise.
    fn sign_license(&self, claims: &LicenseClaims) -> Result<String, SignError>;
}
