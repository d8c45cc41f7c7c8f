//! Streaming file signatures: the same bytes as a one-shot Ed25519 signature
//! of the whole file, verifiable by ring with the published public key.

use std::io::Write;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ring::signature::{UnparsedPublicKey, ED25519};
use tessera_ring::{generate_private_key_pem, SigningKey};

fn file_of(bytes: &[u8]) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(bytes).unwrap();
    file.flush().unwrap();
    file
}

/// Bytes that are not all alike, spanning several 64 KiB reads and a partial last one.
fn content(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect()
}

#[test]
fn a_streamed_file_signature_equals_the_signature_of_its_bytes_and_verifies() {
    let key = SigningKey::from_pem("2026-01", &generate_private_key_pem(None).unwrap()).unwrap();
    for len in [0, 1, 65_536, 200_001, 3 * 1024 * 1024 + 7] {
        let bytes = content(len);
        let file = file_of(&bytes);
        let streamed = key.sign_file(file.path()).unwrap();
        assert_eq!(streamed, key.sign(&bytes), "{len} bytes: Ed25519 is deterministic, so both ways agree");
        UnparsedPublicKey::new(&ED25519, key.public_key()).verify(&bytes, &streamed).expect("verifies");
        let mut tampered = bytes.clone();
        tampered.push(0);
        assert!(UnparsedPublicKey::new(&ED25519, key.public_key()).verify(&tampered, &streamed).is_err());
    }
}

#[test]
fn an_openssl_style_pkcs8_v1_key_signs_files_too() {
    // `openssl genpkey -algorithm ed25519` writes PKCS#8 v1: this fixed
    // prefix, then the 32-byte seed (RFC 8410 §7).
    let seed = [7u8; 32];
    let mut der = vec![0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
    der.extend_from_slice(&seed);
    let pem = format!("-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n", STANDARD.encode(&der));
    let key = SigningKey::from_pem("v1", &pem).unwrap();
    let bytes = content(100_000);
    let file = file_of(&bytes);
    assert_eq!(key.sign_file(file.path()).unwrap(), key.sign(&bytes));
}

#[test]
fn a_missing_file_is_an_io_error_not_a_signature() {
    let key = SigningKey::from_pem("2026-01", &generate_private_key_pem(None).unwrap()).unwrap();
    let error = key.sign_file(std::path::Path::new("/nonexistent/tessera/file.zip")).unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::NotFound);
}
