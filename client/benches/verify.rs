//! Offline verification speed of the client, on one core.
//! `cargo bench -p tessera-client` prints tokens verified per second.

use std::hint::black_box;
use std::time::{Duration, Instant};

use serde_json::json;
use tessera_client::{Client, ClientConfig};
use tessera_ring::{generate_private_key_pem, sign_compact, Jwk, SigningKey};

fn main() {
    let key = SigningKey::from_pem("k1", &generate_private_key_pem(None).unwrap()).unwrap();
    let jwks = json!({"keys": [Jwk::ed25519("k1", &key.public_key())]}).to_string();
    let dir = std::env::temp_dir();
    let config = ClientConfig::new("http://127.0.0.1:9", &jwks, dir.join("bench-lease.json"), "machine-1").unwrap();
    let client = Client::new(config);
    let license = sign_compact(
        &key,
        "tessera-license+jwt",
        json!({"iss": "tessera", "sub": "APP-PRO-7K3QX-M9P2A-R4T8W-ZC6HN", "jti": "0193f3c2-0000-7000-8000-000000000001",
               "iat": 1_790_000_000, "exp": 4_000_000_000i64, "product": "app", "tier": "pro",
               "features": ["export", "batch", "api"], "seats": 3, "kind": "subscription",
               "name": "Ada Lovelace", "email": "ada@example.com"})
        .to_string()
        .as_bytes(),
    );
    let lease = sign_compact(
        &key,
        "tessera-lease+jwt",
        json!({"iss": "tessera", "sub": "APP-PRO-7K3QX-M9P2A-R4T8W-ZC6HN", "jti": "0193f3c2-0000-7000-8000-000000000002",
               "iat": 1_790_000_000, "exp": 4_000_000_000i64, "fp": "machine-1", "product": "app", "tier": "pro",
               "features": ["export", "batch", "api"], "grace_days": 7})
        .to_string()
        .as_bytes(),
    );
    client.verify_license(&license).expect("the bench token verifies");
    client.verify_lease(&lease).expect("the bench lease verifies");

    for (what, token, verify) in [
        ("license token", &license, &(|t: &str| client.verify_license(t).is_ok()) as &dyn Fn(&str) -> bool),
        ("lease token", &lease, &|t: &str| client.verify_lease(t).is_ok()),
    ] {
        // Warm up, then measure for about two seconds on this one thread.
        for _ in 0..1_000 {
            black_box(verify(black_box(token)));
        }
        let started = Instant::now();
        let mut count = 0u64;
        while started.elapsed() < Duration::from_secs(2) {
            for _ in 0..500 {
                assert!(black_box(verify(black_box(token))));
            }
            count += 500;
        }
        let rate = count as f64 / started.elapsed().as_secs_f64();
        println!("offline verification, {what}: {rate:.0} tokens/s on one core ({:.1} µs each)", 1e6 / rate);
    }
}
