//! The client on its own: offline verification, the grace logic on a fake
//! clock, the cache file, response signatures, and an unreachable server.

use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tessera_client::{check_signature, CachedLease, Client, ClientConfig, ClientError, State};
use tessera_ring::{b64url, generate_private_key_pem, sign_compact, Jwk, SigningKey};

const T: i64 = 1_800_000_000;
const DAY: i64 = 86_400;

struct Fixture {
    key: SigningKey,
    dir: tempfile::TempDir,
    now: Arc<AtomicI64>,
    client: Client,
}

fn fixture() -> Fixture {
    let key = SigningKey::from_pem("k1", &generate_private_key_pem(None).unwrap()).unwrap();
    let jwks = json!({"keys": [Jwk::ed25519("k1", &key.public_key())]}).to_string();
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on port 9 (discard): every exchange fails fast.
    let config = ClientConfig::new("http://127.0.0.1:9", &jwks, dir.path().join("app/lease.json"), "machine-1")
        .unwrap()
        .with_timeout(Duration::from_secs(2));
    let now = Arc::new(AtomicI64::new(T));
    let clock = now.clone();
    let client = Client::with_clock(config, Arc::new(move || clock.load(Ordering::SeqCst)));
    Fixture { key, dir, now, client }
}

fn lease(key: &SigningKey, fingerprint: &str, exp: i64) -> String {
    let claims = json!({
        "iss": "tessera", "sub": "APP-PRO-AAAAA-BBBBB", "jti": "0193f3c2-0000-7000-8000-000000000001",
        "iat": exp - 30 * DAY, "exp": exp, "fp": fingerprint, "product": "app", "tier": "pro",
        "features": ["export", "batch"], "grace_days": 7
    });
    sign_compact(key, "tessera-lease+jwt", claims.to_string().as_bytes())
}

fn cache(fixture: &Fixture, lease: String) {
    let path = fixture.client.config().cache_path.clone();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let cached = CachedLease { license_key: "APP-PRO-AAAAA-BBBBB".into(), lease, notice: None };
    std::fs::write(path, serde_json::to_vec(&cached).unwrap()).unwrap();
}

#[test]
fn valid_then_in_grace_then_expired_on_a_fake_clock() {
    let fixture = fixture();
    let exp = T + 30 * DAY;
    cache(&fixture, lease(&fixture.key, "machine-1", exp));

    let status = fixture.client.status();
    assert_eq!(status.state, State::Active { until: exp });
    assert!(status.has_feature("batch") && !status.has_feature("api"));
    assert_eq!(status.entitlements.as_ref().unwrap().tier, "pro");

    fixture.now.store(exp, Ordering::SeqCst);
    assert_eq!(fixture.client.status().state, State::InGrace { until: exp + 7 * DAY });
    fixture.now.store(exp + 7 * DAY - 1, Ordering::SeqCst);
    let last_second = fixture.client.status();
    assert!(last_second.allows_use(), "{last_second:?}");
    fixture.now.store(exp + 7 * DAY, Ordering::SeqCst);
    let expired = fixture.client.status();
    assert_eq!(expired.state, State::Expired { since: exp + 7 * DAY });
    assert!(!expired.allows_use() && expired.entitlements.is_none());
}

#[test]
fn a_lease_of_another_machine_or_a_forged_one_is_invalid() {
    let fixture = fixture();
    let invalid = |fixture: &Fixture| match fixture.client.status().state {
        State::Invalid { reason } => reason,
        other => panic!("expected invalid, got {other:?}"),
    };
    assert!(invalid(&fixture).contains("not activated"));

    cache(&fixture, lease(&fixture.key, "machine-2", T + DAY));
    assert!(invalid(&fixture).contains("another machine"));

    let stranger = SigningKey::from_pem("k1", &generate_private_key_pem(None).unwrap()).unwrap();
    cache(&fixture, lease(&stranger, "machine-1", T + DAY));
    assert!(invalid(&fixture).contains("signature"));

    let license = sign_compact(&fixture.key, "tessera-license+jwt", br#"{"sub":"x","exp":1900000000}"#);
    cache(&fixture, license.clone());
    assert!(invalid(&fixture).contains("type"), "a license token is not a lease");
    assert!(fixture.client.verify_lease(&license).is_err());

    std::fs::write(&fixture.client.config().cache_path, b"{ half a file").unwrap();
    assert!(invalid(&fixture).contains("lease cache"));
}

#[test]
fn license_tokens_verify_offline_with_their_expiry() {
    let fixture = fixture();
    let claims = |exp: i64| {
        json!({"iss": "tessera", "sub": "APP-PRO-AAAAA-BBBBB", "jti": "x", "iat": T - DAY, "exp": exp,
               "product": "app", "tier": "pro", "features": ["export"], "seats": 3, "kind": "subscription",
               "name": "Ada", "email": "ada@example.com"})
        .to_string()
    };
    let good = sign_compact(&fixture.key, "tessera-license+jwt", claims(T + DAY).as_bytes());
    assert_eq!(fixture.client.verify_license(&good).unwrap().seats, 3);
    let expired = sign_compact(&fixture.key, "tessera-license+jwt", claims(T - 1).as_bytes());
    assert!(
        matches!(fixture.client.verify_license(&expired), Err(ClientError::InvalidToken(reason)) if reason.contains("expired"))
    );
    let lease = lease(&fixture.key, "machine-1", T + DAY);
    assert!(fixture.client.verify_license(&lease).is_err(), "a lease is not a license");
}

#[test]
fn an_unreachable_server_never_blocks_or_breaks_the_app() {
    let fixture = fixture();
    let exp = T + 2 * DAY; // due for renewal with a 7-day threshold
    cache(&fixture, lease(&fixture.key, "machine-1", exp));
    let started = Instant::now();
    let status = fixture.client.refresh_if_needed(Duration::from_secs(7 * DAY as u64));
    assert!(started.elapsed() < Duration::from_secs(3), "bounded by the timeout");
    assert_eq!(status.state, State::Active { until: exp }, "the cached lease stands");

    fixture.now.store(exp + DAY, Ordering::SeqCst);
    let offline = fixture.client.refresh_if_needed(Duration::from_secs(0));
    assert_eq!(offline.state, State::InGrace { until: exp + 7 * DAY });
    assert!(matches!(fixture.client.heartbeat(), Err(ClientError::Unreachable(_))));
    assert!(matches!(fixture.client.activate("APP-PRO-AAAAA-BBBBB", None), Err(ClientError::Unreachable(_))));
    assert!(fixture.client.config().cache_path.exists(), "a failed exchange keeps the cache");
    drop(fixture.dir);
}

#[test]
fn response_signatures_cover_every_byte() {
    let fixture = fixture();
    let body = br#"{"valid":true,"code":"VALID","nonce":"abc"}"#;
    let header = format!("kid=\"k1\", alg=\"EdDSA\", sig=\"{}\"", b64url(&fixture.key.sign(body)));
    check_signature(&fixture.client.config().verifier, &header, body).unwrap();
    for index in 0..body.len() {
        let mut changed = body.to_vec();
        changed[index] ^= 0x01;
        assert!(check_signature(&fixture.client.config().verifier, &header, &changed).is_err(), "byte {index}");
    }
    let unknown_kid = header.replace("k1", "k9");
    assert!(check_signature(&fixture.client.config().verifier, &unknown_kid, body).is_err());
    assert!(check_signature(&fixture.client.config().verifier, "garbage", body).is_err());
}

#[test]
fn the_cache_is_private_and_replaced_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/lease.json");
    let first = CachedLease { license_key: "K-1".into(), lease: "a".repeat(100), notice: None };
    first.save(&path).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    let second = CachedLease { license_key: "K-2".into(), lease: "b".into(), notice: Some("Version 3 is out".into()) };
    second.save(&path).unwrap();
    assert_eq!(CachedLease::load(&path).unwrap(), Some(second), "replaced, not appended or mixed");
    let names: Vec<_> =
        std::fs::read_dir(path.parent().unwrap()).unwrap().map(|entry| entry.unwrap().file_name()).collect();
    assert_eq!(names, ["lease.json"], "no temporary file left behind");
    assert_eq!(CachedLease::load(&dir.path().join("none.json")).unwrap(), None);
}

#[test]
fn machine_fingerprints_are_stable_and_per_app() {
    use tessera_client::machine_fingerprint;
    assert_eq!(machine_fingerprint("app"), machine_fingerprint("app"));
    assert_ne!(machine_fingerprint("app"), machine_fingerprint("other-app"));
    assert_eq!(machine_fingerprint("app").len(), 64);
}
