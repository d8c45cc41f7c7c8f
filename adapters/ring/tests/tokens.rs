//! Signing and strict verification of license tokens, and the JWKS round trip.

use std::sync::Arc;

use serde_json::json;
use tessera_domain::issuance::{LicenseClaims, Signer, LICENSE_TOKEN_TYPE};
use tessera_ring::*;

const NOW: i64 = 1_790_000_000;

fn keyring() -> Keyring {
    let active = SigningKey::from_pem("2026-01", &generate_private_key_pem(None).unwrap()).unwrap();
    let retired = SigningKey::from_pem("2025-01", &generate_private_key_pem(None).unwrap()).unwrap();
    Keyring::new(active, vec![("2025-01".into(), retired.public_key())]).unwrap()
}

fn claims(exp: Option<i64>) -> LicenseClaims {
    LicenseClaims {
        iss: "tessera".into(),
        sub: "DT1-CORE-7K3QX-M9P2A-R4T8W-ZC6HN".into(),
        jti: "0190f1c4-0000-7000-8000-000000000000".into(),
        iat: NOW,
        exp,
        product: "datatools".into(),
        tier: "core".into(),
        features: vec!["dedupe".into()],
        seats: 3,
        kind: "subscription".into(),
        name: "Jane Doe".into(),
        email: "jane@example.com".into(),
    }
}

fn sign(keyring: Keyring, exp: Option<i64>) -> (String, TokenVerifier) {
    let keyring = Arc::new(keyring);
    let token = RingSigner::new(keyring.clone()).sign_license(&claims(exp)).unwrap();
    (token, keyring.verifier())
}

fn part(token: &str, index: usize) -> &str {
    token.split('.').nth(index).unwrap()
}

fn with_header(token: &str, header: serde_json::Value) -> String {
    format!("{}.{}.{}", b64url(header.to_string().as_bytes()), part(token, 1), part(token, 2))
}

#[test]
fn a_signed_license_token_verifies_with_its_claims_and_header() {
    let (token, verifier) = sign(keyring(), Some(NOW + 3600));
    let verified = verifier.verify(&token, LICENSE_TOKEN_TYPE, NOW, true).unwrap();
    assert_eq!(verified.kid, "2026-01");
    assert_eq!(verified.typ, "tessera-license+jwt");
    assert_eq!(verified.claims_as::<LicenseClaims>().unwrap(), claims(Some(NOW + 3600)));
    let header: serde_json::Value = serde_json::from_slice(&b64url_decode(part(&token, 0)).unwrap()).unwrap();
    assert_eq!(header, json!({"alg": "EdDSA", "typ": "tessera-license+jwt", "kid": "2026-01"}));
}

#[test]
fn a_perpetual_token_has_no_exp_claim() {
    let (token, verifier) = sign(keyring(), None);
    let verified = verifier.verify(&token, LICENSE_TOKEN_TYPE, NOW + 1_000_000_000, true).unwrap();
    assert!(!verified.claims.contains_key("exp"));
}

#[test]
fn a_tampered_payload_or_signature_is_rejected() {
    let (token, verifier) = sign(keyring(), None);
    let mut forged_claims = claims(None);
    forged_claims.seats = 1000;
    let forged =
        format!("{}.{}.{}", part(&token, 0), b64url(&serde_json::to_vec(&forged_claims).unwrap()), part(&token, 2));
    assert_eq!(verifier.verify(&forged, LICENSE_TOKEN_TYPE, NOW, true), Err(VerifyError::BadSignature));

    let mut signature = b64url_decode(part(&token, 2)).unwrap();
    signature[10] ^= 1;
    let flipped = format!("{}.{}.{}", part(&token, 0), part(&token, 1), b64url(&signature));
    assert_eq!(verifier.verify(&flipped, LICENSE_TOKEN_TYPE, NOW, true), Err(VerifyError::BadSignature));
}

#[test]
fn alg_none_and_other_algorithms_are_rejected() {
    let (token, verifier) = sign(keyring(), None);
    for alg in ["none", "HS256", "ES256", "RS256", "EdDSA "] {
        let forged = with_header(&token, json!({"alg": alg, "typ": LICENSE_TOKEN_TYPE, "kid": "2026-01"}));
        assert_eq!(
            verifier.verify(&forged, LICENSE_TOKEN_TYPE, NOW, true),
            Err(VerifyError::UnsupportedAlgorithm(alg.into()))
        );
    }
    let unsigned = format!("{}.{}.", b64url(br#"{"alg":"none"}"#), part(&token, 1));
    assert!(verifier.verify(&unsigned, LICENSE_TOKEN_TYPE, NOW, true).is_err());
}

#[test]
fn a_token_of_another_type_is_rejected() {
    let (token, verifier) = sign(keyring(), None);
    let error = verifier.verify(&token, "tessera-lease+jwt", NOW, true).unwrap_err();
    assert!(matches!(error, VerifyError::WrongType { .. }), "{error}");
}

#[test]
fn an_unknown_kid_and_crit_headers_are_rejected() {
    let (token, verifier) = sign(keyring(), None);
    let unknown = with_header(&token, json!({"alg": "EdDSA", "typ": LICENSE_TOKEN_TYPE, "kid": "stolen"}));
    assert_eq!(verifier.verify(&unknown, LICENSE_TOKEN_TYPE, NOW, true), Err(VerifyError::UnknownKey("stolen".into())));
    let crit = with_header(&token, json!({"alg": "EdDSA", "typ": LICENSE_TOKEN_TYPE, "kid": "2026-01", "crit": ["x"]}));
    assert_eq!(verifier.verify(&crit, LICENSE_TOKEN_TYPE, NOW, true), Err(VerifyError::CriticalHeader));
}

#[test]
fn an_expired_token_is_rejected_unless_expiry_is_not_checked() {
    let (token, verifier) = sign(keyring(), Some(NOW));
    assert_eq!(verifier.verify(&token, LICENSE_TOKEN_TYPE, NOW, true), Err(VerifyError::Expired { exp: NOW }));
    assert!(verifier.verify(&token, LICENSE_TOKEN_TYPE, NOW - 1, true).is_ok());
    let late = verifier.verify(&token, LICENSE_TOKEN_TYPE, NOW + 86_400, false).unwrap();
    assert_eq!(late.exp(), Some(NOW));
}

#[test]
fn malformed_tokens_are_rejected_without_panicking() {
    let (token, verifier) = sign(keyring(), None);
    let padded = format!("{}=.{}.{}", part(&token, 0), part(&token, 1), part(&token, 2));
    let cases = [
        String::new(),
        "a.b".into(),
        "a.b.c.d".into(),
        "!!!.???.***".into(),
        padded,
        format!("{}.{}", token, "extra"),
        "x".repeat(MAX_TOKEN_LEN + 1),
        format!("{}.{}.{}", b64url(b"[1,2]"), part(&token, 1), part(&token, 2)),
    ];
    for case in cases {
        assert!(verifier.verify(&case, LICENSE_TOKEN_TYPE, NOW, true).is_err(), "accepted {case:.40}");
    }
}

#[test]
fn a_token_signed_by_a_retired_key_still_verifies_and_the_jwks_publishes_both() {
    let old_key = SigningKey::from_pem("2025-01", &generate_private_key_pem(None).unwrap()).unwrap();
    let old_public = old_key.public_key();
    let old_token = sign_compact(&old_key, LICENSE_TOKEN_TYPE, &serde_json::to_vec(&claims(None)).unwrap());
    let new_key = SigningKey::from_pem("2026-01", &generate_private_key_pem(None).unwrap()).unwrap();
    let keyring = Keyring::new(new_key, vec![("2025-01".into(), old_public)]).unwrap();

    let jwks = keyring.jwks();
    let kids: Vec<_> = jwks.keys.iter().map(|key| key.kid.as_str()).collect();
    assert_eq!(kids, ["2026-01", "2025-01"], "active key first");
    let published = Jwks::parse(&serde_json::to_string(&jwks).unwrap()).unwrap().verifier().unwrap();
    assert_eq!(published.verify(&old_token, LICENSE_TOKEN_TYPE, NOW, true).unwrap().kid, "2025-01");
    assert_eq!(serde_json::to_value(&jwks.keys[0]).unwrap()["use"], "sig");
}

#[test]
fn duplicate_or_invalid_kids_are_refused() {
    let key = || SigningKey::from_pem("k1", &generate_private_key_pem(None).unwrap()).unwrap();
    let public = key().public_key();
    assert_eq!(Keyring::new(key(), vec![("k1".into(), public)]).unwrap_err(), KeyringError::DuplicateKid("k1".into()));
    assert!(Keyring::new(SigningKey::from_pem("bad kid", &generate_private_key_pem(None).unwrap()).unwrap(), vec![])
        .is_err());
}

#[test]
fn openssl_style_pkcs8_v1_keys_load() {
    // RFC 8410 §10.3: the Ed25519 private key example, PKCS#8 v1 as openssl writes it.
    let pem = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n-----END PRIVATE KEY-----\n";
    let key = SigningKey::from_pem("rfc", pem).unwrap();
    assert_eq!(key.public_key_base64url(), "Gb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE");
}

#[test]
fn garbage_key_files_are_refused_with_a_reason() {
    assert_eq!(SigningKey::from_pem("k", "hello").unwrap_err(), KeyError::NotPem);
    let not_base64 = "-----BEGIN PRIVATE KEY-----\n@@@@\n-----END PRIVATE KEY-----";
    assert_eq!(SigningKey::from_pem("k", not_base64).unwrap_err(), KeyError::BadBase64);
    let not_ed25519 = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----";
    assert!(matches!(SigningKey::from_pem("k", not_ed25519).unwrap_err(), KeyError::NotEd25519(_)));
}

#[test]
fn a_jwks_without_ed25519_keys_or_with_a_bad_one_is_refused() {
    assert_eq!(
        Jwks::parse(r#"{"keys":[{"kty":"RSA","n":"x","e":"AQAB"}]}"#).unwrap().verifier().unwrap_err(),
        JwksError::NoUsableKeys
    );
    let bad = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"short","kid":"a"}]}"#;
    assert_eq!(Jwks::parse(bad).unwrap().verifier().unwrap_err(), JwksError::BadKey("a".into()));
    assert!(matches!(Jwks::parse("[]"), Err(JwksError::NotJwks(_))));
}

#[test]
fn portal_links_verify_and_are_not_interchangeable_with_other_tokens() {
    use tessera_domain::issuance::{PortalLinkClaims, PortalLinkVerifier};
    let signer = RingSigner::new(Arc::new(keyring()));
    let claims = PortalLinkClaims { iss: "tessera".into(), sub: "jane@example.com".into(), iat: NOW, exp: NOW + 3600 };
    let link = signer.sign_portal_link(&claims).unwrap();
    assert_eq!(signer.verify_portal_link(&link), Ok(claims.clone()));

    let forged_claims = PortalLinkClaims { sub: "eve@example.com".into(), ..claims };
    let forged =
        format!("{}.{}.{}", part(&link, 0), b64url(&serde_json::to_vec(&forged_claims).unwrap()), part(&link, 2));
    assert!(signer.verify_portal_link(&forged).is_err(), "another address in the same signature");

    let license = signer.sign_license(&self::claims(None)).unwrap();
    assert!(signer.verify_portal_link(&license).is_err(), "a license token is not a portal link");
    use tessera_domain::issuance::LeaseVerifier;
    assert!(signer.verify_lease(&link).is_err(), "a portal link is not a lease");
}
