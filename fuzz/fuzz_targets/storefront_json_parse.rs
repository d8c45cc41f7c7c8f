//! Any body, correctly signed, for each signed-JSON storefront (Lemon
//! Squeezy, Paddle, Stripe, Polar): it authenticates and parses into an event
//! or a clear error, never a panic; the same body under another secret is
//! refused.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use tessera_domain::storefront::{InboundRequest, Storefront};
use tessera_lemonsqueezy::LemonSqueezyStorefront;
use tessera_memory::ManualClock;
use tessera_paddle::PaddleStorefront;
use tessera_polar::{KeyScheme, PolarStorefront};
use tessera_stripe::StripeStorefront;

const SECRET: &str = "whsec_ZnV6ei1zdG9yZWZyb250LXNlY3JldA==";

fn request(headers: Vec<(&str, String)>, body: &[u8]) -> InboundRequest {
    InboundRequest {
        query: vec![],
        headers: headers.into_iter().map(|(name, value)| (name.to_owned(), value)).collect(),
        body: body.to_vec(),
    }
}

fn check(storefront: &dyn Storefront, signed: InboundRequest, forged: InboundRequest) {
    assert!(storefront.authenticate(&signed).is_ok(), "{}: our own signature verifies", storefront.name());
    if let Ok(event) = storefront.parse(&signed) {
        let _ = event.check();
        let _ = event.dedupe_key();
    }
    assert!(storefront.authenticate(&forged).is_err(), "{}: another secret's signature", storefront.name());
}

fuzz_target!(|data: &[u8]| {
    let now = time::OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
    let at = now.unix_timestamp();
    let clock = Arc::new(ManualClock::at(now));

    let lemon = LemonSqueezyStorefront::new(SECRET, Default::default());
    let other = LemonSqueezyStorefront::new("another secret, 16+ chars", Default::default());
    check(
        &lemon,
        request(vec![("x-signature", lemon.sign(data))], data),
        request(vec![("x-signature", other.sign(data))], data),
    );

    let paddle = PaddleStorefront::new(SECRET, "key", "http://127.0.0.1:9", 5, clock.clone());
    let other = PaddleStorefront::new("another secret, 16+ chars", "key", "http://127.0.0.1:9", 5, clock.clone());
    check(
        &paddle,
        request(vec![("paddle-signature", paddle.sign(at, data))], data),
        request(vec![("paddle-signature", other.sign(at, data))], data),
    );

    let stripe = StripeStorefront::new(SECRET, "key", "http://127.0.0.1:9", clock.clone());
    let other = StripeStorefront::new("another secret, 16+ chars", "key", "http://127.0.0.1:9", clock.clone());
    check(
        &stripe,
        request(vec![("stripe-signature", stripe.sign(at, data))], data),
        request(vec![("stripe-signature", other.sign(at, data))], data),
    );

    let polar = PolarStorefront::new(SECRET, clock);
    let headers = |signature: String| {
        vec![
            ("webhook-id", "msg_fuzz".to_owned()),
            ("webhook-timestamp", at.to_string()),
            ("webhook-signature", signature),
        ]
    };
    let signed = PolarStorefront::sign(SECRET, KeyScheme::Standard, "msg_fuzz", at, data);
    let forged = PolarStorefront::sign("whsec_YW5vdGhlciBzZWNyZXQ=", KeyScheme::Standard, "msg_fuzz", at, data);
    check(&polar, request(headers(signed), data), request(headers(forged), data));
});
