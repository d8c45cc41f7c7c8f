//! Criterion micro-benchmarks of the signing hot paths: signing a license and
//! a lease token (every mint, activation and heartbeat) and verifying one
//! (every heartbeat, deactivation and usage report). `cargo bench -p tessera-ring`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use tessera_domain::issuance::{LeaseClaims, LeaseVerifier, LicenseClaims, Signer, LICENSE_TOKEN_TYPE};
use tessera_ring::{generate_private_key_pem, Keyring, RingSigner, SigningKey};

fn license_claims() -> LicenseClaims {
    LicenseClaims {
        iss: "tessera".into(),
        sub: "DT1-CORE-7K3QX-M9P2A-R4T8W-ZC6HN".into(),
        jti: "0190f1c4-0000-7000-8000-000000000000".into(),
        iat: 1_790_000_000,
        exp: Some(1_821_536_000),
        product: "datatools".into(),
        tier: "core".into(),
        features: vec!["dedupe".into(), "clean".into(), "standardize".into(), "merge".into()],
        seats: 3,
        kind: "subscription".into(),
        name: "Jane Doe".into(),
        email: "jane@example.com".into(),
    }
}

fn lease_claims() -> LeaseClaims {
    LeaseClaims {
        iss: "tessera".into(),
        sub: "DT1-CORE-7K3QX-M9P2A-R4T8W-ZC6HN".into(),
        jti: "0190f1c4-0000-7000-8000-000000000001".into(),
        iat: 1_790_000_000,
        exp: 1_792_592_000,
        fp: "3f1c9a0e5b7d2c4a6e8f0b1d3c5e7a9b".into(),
        product: "datatools".into(),
        tier: "core".into(),
        features: vec!["dedupe".into(), "clean".into()],
        grace_days: 7,
    }
}

fn benches(c: &mut Criterion) {
    let key = SigningKey::from_pem("2026-11", &generate_private_key_pem(None).unwrap()).unwrap();
    let keyring = Arc::new(Keyring::new(key, vec![]).unwrap());
    let signer = RingSigner::new(keyring.clone());
    let verifier = keyring.verifier();
    let (license, lease) = (license_claims(), lease_claims());
    let license_token = signer.sign_license(&license).unwrap();
    let lease_token = signer.sign_lease(&lease).unwrap();

    c.bench_function("sign license token", |b| b.iter(|| signer.sign_license(black_box(&license)).unwrap()));
    c.bench_function("sign lease token", |b| b.iter(|| signer.sign_lease(black_box(&lease)).unwrap()));
    c.bench_function("verify license token", |b| {
        b.iter(|| verifier.verify(black_box(&license_token), LICENSE_TOKEN_TYPE, 1_800_000_000, true).unwrap())
    });
    c.bench_function("verify lease (server side, claims parsed)", |b| {
        b.iter(|| signer.verify_lease(black_box(&lease_token)).unwrap())
    });
}

criterion_group!(tokens, benches);
criterion_main!(tokens);
