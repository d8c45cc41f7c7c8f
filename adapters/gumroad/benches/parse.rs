//! Criterion micro-benchmark of a Gumroad sale ping: constant-time secret check
//! and form parsing into a storefront event. `cargo bench -p tessera-gumroad`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use tessera_domain::storefront::{InboundRequest, Storefront};
use tessera_gumroad::GumroadStorefront;

fn sale_ping() -> Vec<u8> {
    let mut form = form_urlencoded::Serializer::new(String::new());
    for line in include_str!("../tests/fixtures/sale-ping.txt").lines() {
        if let Some((key, value)) = line.split_once('=').filter(|_| !line.starts_with('#')) {
            form.append_pair(key, value);
        }
    }
    form.finish().into_bytes()
}

fn benches(c: &mut Criterion) {
    let storefront = GumroadStorefront::new("bench-secret-0123456789", Some("kL0psVL2admJSYRNs-OCMg==".into()));
    let request = InboundRequest {
        query: vec![("secret".into(), "bench-secret-0123456789".into())],
        headers: vec![("content-type".into(), "application/x-www-form-urlencoded".into())],
        body: sale_ping(),
    };
    c.bench_function("gumroad sale ping: authenticate + parse", |b| {
        b.iter(|| {
            storefront.authenticate(black_box(&request)).unwrap();
            storefront.parse(black_box(&request)).unwrap()
        })
    });
}

criterion_group!(parse, benches);
criterion_main!(parse);
