//! Commands that need no server: key generation and offline verification.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tessera_ring::{generate_private_key_pem, Jwk, Jwks, SigningKey, TokenVerifier};

use crate::admin_client::CliError;
use crate::output::print_json;

/// The token types `verify` knows; anything else is refused by type.
const KNOWN_TOKEN_TYPES: &[&str] = &[tessera_client::LICENSE_TYPE, tessera_client::LEASE_TYPE];

pub fn keygen(kid: &str, out: &Path, json_output: bool) -> Result<(), CliError> {
    let pem = generate_private_key_pem(None).map_err(|error| CliError::Local(error.to_string()))?;
    let key = SigningKey::from_pem(kid, &pem).map_err(|error| CliError::Local(error.to_string()))?;
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(out)
        .map_err(|error| CliError::Local(format!("{}: {error}", out.display())))?;
    file.write_all(pem.as_bytes()).map_err(|error| CliError::Local(format!("{}: {error}", out.display())))?;
    let jwk = serde_json::to_value(Jwk::ed25519(kid, &key.public_key())).expect("a JWK serializes");
    if json_output {
        print_json(&jwk);
    } else {
        println!(
            "Wrote {} (mode 0600). Public key, for `public_key` once retired:\n{}",
            out.display(),
            key.public_key_base64url()
        );
        println!("JWK:\n{}", serde_json::to_string(&jwk).expect("a JWK serializes"));
    }
    Ok(())
}

/// The text of a JWKS file or URL.
pub fn read_jwks_text(source: &str) -> Result<String, CliError> {
    if source.starts_with("http://") || source.starts_with("https://") {
        let response = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .and_then(|client| client.get(source).send())
            .and_then(|response| response.error_for_status())
            .map_err(|error| CliError::Local(format!("cannot fetch the JWKS from {source}: {error}")))?;
        response.text().map_err(|error| CliError::Local(format!("cannot read the JWKS from {source}: {error}")))
    } else {
        std::fs::read_to_string(source).map_err(|error| CliError::Local(format!("{source}: {error}")))
    }
}

fn read_jwks(source: &str) -> Result<Jwks, CliError> {
    Jwks::parse(&read_jwks_text(source)?).map_err(|error| CliError::Local(error.to_string()))
}

pub fn verify(token_or_file: &str, jwks: &str, json_output: bool) -> Result<(), CliError> {
    let token = if Path::new(token_or_file).is_file() {
        std::fs::read_to_string(token_or_file).map_err(|error| CliError::Local(format!("{token_or_file}: {error}")))?
    } else {
        token_or_file.to_owned()
    };
    let token = token.trim();
    let verifier = read_jwks(jwks)?.verifier().map_err(|error| CliError::Local(error.to_string()))?;
    let typ = TokenVerifier::peek_type(token).unwrap_or_default();
    let expected = KNOWN_TOKEN_TYPES
        .iter()
        .find(|known| **known == typ)
        .ok_or_else(|| CliError::Invalid(format!("invalid: unknown token type `{typ}`")))?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|elapsed| elapsed.as_secs() as i64).unwrap_or_default();
    let verified =
        verifier.verify(token, expected, now, true).map_err(|error| CliError::Invalid(format!("invalid: {error}")))?;
    let claims = Value::Object(verified.claims);
    if json_output {
        print_json(&json!({ "valid": true, "typ": verified.typ, "kid": verified.kid, "claims": claims }));
    } else {
        println!("valid {} (key {})", verified.typ, verified.kid);
        print_json(&claims);
    }
    Ok(())
}
