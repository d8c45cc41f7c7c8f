use std::cell::RefCell;
use std::io::Read;
use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};
use sha2::{Digest, Sha512};
use thiserror::Error;

use crate::{b64url, b64url_decode};

/// A comment line written above development keys. Production refuses any key
/// file that carries it.
pub const DEVELOPMENT_KEY_MARKER: &str = "# tessera development key: never use in production";

const PEM_BEGIN: &str = "-----BEGIN PRIVATE KEY-----";
const PEM_END: &str = "-----END PRIVATE KEY-----";

#[derive(Debug, Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("not a PEM private key (expected {PEM_BEGIN} … {PEM_END})")]
    NotPem,
    #[error("the PEM body is not valid base64")]
    BadBase64,
    #[error("not an Ed25519 PKCS#8 key: {0}")]
    NotEd25519(String),
    #[error("a public key is 32 bytes of base64url")]
    BadPublicKey,
    #[error("key generation failed")]
    Generation,
}

/// An Ed25519 private key with its key id. Parsed once, at start-up.
pub struct SigningKey {
    pub kid: String,
    pub(crate) pair: Ed25519KeyPair,
    /// The same key for signing a file as a stream (see [`SigningKey::sign_file`]).
    streaming: StreamingKey,
}

/// The expanded secret and public key ed25519-dalek signs a stream with.
struct StreamingKey {
    secret: ed25519_dalek::hazmat::ExpandedSecretKey,
    public: ed25519_dalek::VerifyingKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("SigningKey").field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Loads a PKCS#8 PEM Ed25519 key, as written by `tessera keygen` or by
    /// `openssl genpkey -algorithm ed25519` (PKCS#8 v1 and v2 both work).
    pub fn from_pem(kid: impl Into<String>, pem: &str) -> Result<Self, KeyError> {
        let der = pem_to_der(pem)?;
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der)
            .map_err(|error| KeyError::NotEd25519(error.to_string()))?;
        let dalek = <ed25519_dalek::SigningKey as ed25519_dalek::pkcs8::DecodePrivateKey>::from_pkcs8_der(&der)
            .map_err(|error| KeyError::NotEd25519(error.to_string()))?;
        if dalek.verifying_key().as_bytes() != pair.public_key().as_ref() {
            return Err(KeyError::NotEd25519("the key's public half does not match its private half".into()));
        }
        let streaming = StreamingKey { secret: (&dalek.to_bytes()).into(), public: dalek.verifying_key() };
        Ok(Self { kid: kid.into(), pair, streaming })
    }

    pub fn public_key(&self) -> [u8; 32] {
        self.pair.public_key().as_ref().try_into().expect("Ed25519 public keys are 32 bytes")
    }

    /// The public key as base64url, the JWK `x`.
    pub fn public_key_base64url(&self) -> String {
        b64url(&self.public_key())
    }

    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.pair.sign(message).as_ref().try_into().expect("Ed25519 signatures are 64 bytes")
    }

    /// The plain (RFC 8032, not prehashed) Ed25519 signature of a file's
    /// bytes — exactly what [`SigningKey::sign`] gives for them, and what
    /// Sparkle's `sparkle:edSignature` is — read twice in 64 KiB chunks, so
    /// a file of any size is signed in constant memory. Ed25519 hashes the
    /// message twice (for the nonce, then for the challenge), hence two reads.
    pub fn sign_file(&self, path: &Path) -> std::io::Result<[u8; 64]> {
        let failure: RefCell<Option<std::io::Error>> = RefCell::new(None);
        let hash_file = |hasher: &mut Sha512| -> Result<(), ed25519_dalek::SignatureError> {
            let mut read = || -> std::io::Result<()> {
                let mut file = std::fs::File::open(path)?;
                let mut buffer = vec![0u8; 64 * 1024];
                loop {
                    let count = file.read(&mut buffer)?;
                    if count == 0 {
                        return Ok(());
                    }
                    hasher.update(&buffer[..count]);
                }
            };
            read().map_err(|error| {
                failure.borrow_mut().replace(error);
                ed25519_dalek::SignatureError::new()
            })
        };
        let signed = ed25519_dalek::hazmat::raw_sign_byupdate::<Sha512, _>(
            &self.streaming.secret,
            hash_file,
            &self.streaming.public,
        );
        match (signed, failure.into_inner()) {
            (_, Some(error)) => Err(error),
            (Ok(signature), None) => Ok(signature.to_bytes()),
            (Err(error), None) => Err(std::io::Error::other(error)),
        }
    }
}

fn pem_to_der(pem: &str) -> Result<Vec<u8>, KeyError> {
    let start = pem.find(PEM_BEGIN).ok_or(KeyError::NotPem)? + PEM_BEGIN.len();
    let end = pem[start..].find(PEM_END).ok_or(KeyError::NotPem)? + start;
    let body: String = pem[start..end].chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD.decode(body).map_err(|_| KeyError::BadBase64)
}

/// A new Ed25519 private key as PKCS#8 PEM, with optional comment lines above it.
pub fn generate_private_key_pem(comment: Option<&str>) -> Result<String, KeyError> {
    let document = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).map_err(|_| KeyError::Generation)?;
    let body = STANDARD.encode(document.as_ref());
    let mut pem = String::new();
    if let Some(comment) = comment {
        pem.push_str(comment);
        pem.push('\n');
    }
    pem.push_str(PEM_BEGIN);
    pem.push('\n');
    for line in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        pem.push('\n');
    }
    pem.push_str(PEM_END);
    pem.push('\n');
    Ok(pem)
}

/// A retired key's public half, as configured (`public_key = "<base64url>"`).
pub fn public_key_from_base64url(text: &str) -> Result<[u8; 32], KeyError> {
    b64url_decode(text.trim()).and_then(|bytes| bytes.try_into().ok()).ok_or(KeyError::BadPublicKey)
}
