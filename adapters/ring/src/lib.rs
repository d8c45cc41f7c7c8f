//! Ed25519 on ring: PKCS#8 PEM keys, a keyring with one active and any number of
//! retired (verify-only) keys, compact JWS signing and strict verification, and
//! JWKS. Implements the domain's `Signer` ([`RingSigner`]) and `RandomSource`
//! ([`RingRandomSource`]) ports.
//!
//! Free of server dependencies, so the CLI and buyers' apps can verify tokens
//! offline with exactly the code the server signs with.

mod jwks;
mod jws;
mod keyring;
mod keys;
mod random;
mod signer;

pub use jwks::{Jwk, Jwks, JwksError};
pub use jws::{sign_compact, TokenVerifier, VerifiedToken, VerifyError, MAX_TOKEN_LEN};
pub use keyring::{Keyring, KeyringError};
pub use keys::{generate_private_key_pem, public_key_from_base64url, KeyError, SigningKey, DEVELOPMENT_KEY_MARKER};
pub use random::RingRandomSource;
pub use signer::RingSigner;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// base64url without padding, as JOSE uses everywhere.
pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Strict base64url decoding: no padding, no other alphabet.
pub fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}
