use tessera_domain::issuance::{LicenseClaims, SignError, Signer};

/// A signer that does not sign: the "token" is `unsigned.` followed by the
/// claims as JSON, so domain tests can read back exactly what would be signed.
#[derive(Debug, Default)]
pub struct InMemorySigner;

impl InMemorySigner {
    pub const PREFIX: &'static str = "unsigned.";

    /// The claims inside a token this signer produced.
    pub fn claims_of(token: &str) -> Option<LicenseClaims> {
        serde_json_from(token.strip_prefix(Self::PREFIX)?)
    }
}

fn serde_json_from(text: &str) -> Option<LicenseClaims> {
    serde_json::from_str(text).ok()
}

impl Signer for InMemorySigner {
    fn sign_license(&self, claims: &LicenseClaims) -> Result<String, SignError> {
        let json = serde_json::to_string(claims).map_err(|error| SignError(error.to_string()))?;
        Ok(format!("{}{json}", Self::PREFIX))
    }
}
