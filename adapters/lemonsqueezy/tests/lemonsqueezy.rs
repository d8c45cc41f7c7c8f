//! The adapter on Lemon Squeezy's own example payloads (`tests/fixtures/`,
//! the example objects of docs.lemonsqueezy.com/api — orders, subscriptions,
//! subscription invoices — wrapped as its webhook documentation shows:
//! `meta.event_name`, `meta.test_mode`), signed as Lemon Squeezy signs.

use std::collections::BTreeSet;

use serde_json::{json, Value};
use tessera_domain::storefront::{EventKind, InboundRequest, Storefront, StorefrontError};
use tessera_lemonsqueezy::LemonSqueezyStorefront;

const SECRET: &str = "a signing secret of mine";

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn storefront() -> LemonSqueezyStorefront {
    LemonSqueezyStorefront::new(SECRET, BTreeSet::from(["7".to_owned()]))
}

fn posted(storefront: &LemonSqueezyStorefront, document: &Value) -> InboundRequest {
    let body = serde_json::to_vec(document).unwrap();
    let event_name = document["meta"]["event_name"].as_str().unwrap().to_owned();
    InboundRequest {
        query: vec![],
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("x-event-name".into(), event_name),
            ("x-signature".into(), storefront.sign(&body)),
        ],
        body,
    }
}

/// `document` as the event `name`, with `attributes` merged in.
fn as_event(mut document: Value, name: &str, attributes: Value) -> Value {
    document["meta"]["event_name"] = json!(name);
    for (key, value) in attributes.as_object().unwrap() {
        document["data"]["attributes"][key] = value.clone();
    }
    document
}

#[test]
fn the_signature_is_the_hex_hmac_of_the_exact_body() {
    let storefront = storefront();
    let request = posted(&storefront, &fixture("order_created"));
    storefront.authenticate(&request).unwrap();
    // Computed independently, with Python's `hmac.new(secret, body, sha256).hexdigest()`.
    let body = br#"{"meta":{"event_name":"order_created"}}"#;
    assert_eq!(storefront.sign(body), "1d8b3d9bba84b976ef08efd81393ebe6157753d11303ccf08814c07f6a8a81bd");

    let refused =
        |request: &InboundRequest| matches!(storefront.authenticate(request), Err(StorefrontError::Unauthenticated(_)));
    let mut tampered = request.clone();
    tampered.body[10] ^= 1;
    assert!(refused(&tampered), "a changed body");
    let mut unsigned = request.clone();
    unsigned.headers.retain(|(name, _)| name != "x-signature");
    assert!(refused(&unsigned), "no signature");
    let other = LemonSqueezyStorefront::new("another secret entirely", BTreeSet::new());
    assert!(refused(&posted(&other, &fixture("order_created"))), "another store's secret");
    let mut garbage = request.clone();
    garbage.headers.push(("x-signature".into(), "zz".into()));
    garbage.headers.retain(|(name, value)| name != "x-signature" || value == "zz");
    assert!(refused(&garbage), "not hex");
}

#[test]
fn an_order_is_a_sale_of_its_variant() {
    let storefront = storefront();
    let event = storefront.parse(&posted(&storefront, &fixture("order_created"))).unwrap();
    assert_eq!(event.kind, EventKind::Sale);
    assert_eq!(event.sale_id.as_deref(), Some("1"));
    assert_eq!(event.subscription_id, None);
    assert_eq!(event.product_ref, "1", "mapped by first_order_item.variant_id");
    assert_eq!(event.email.as_deref(), Some("johndoe@example.com"));
    assert_eq!(event.name.as_deref(), Some("John Doe"));
    assert!(event.test, "meta.test_mode");

    let pending = as_event(fixture("order_created"), "order_created", json!({"status": "pending"}));
    assert!(matches!(storefront.parse(&posted(&storefront, &pending)), Err(StorefrontError::Ignored(_))));
    let refund = as_event(fixture("order_created"), "order_refunded", json!({"status": "refunded", "refunded": true}));
    let refund = storefront.parse(&posted(&storefront, &refund)).unwrap();
    assert_eq!((refund.kind, refund.sale_id.as_deref()), (EventKind::Refund, Some("1")));
}

#[test]
fn a_subscription_purchase_is_one_sale_that_follows_the_subscription() {
    let storefront = storefront();
    let mut order = fixture("order_created");
    order["data"]["attributes"]["first_order_item"]["variant_id"] = json!(7);
    let order = storefront.parse(&posted(&storefront, &order));
    assert!(matches!(order, Err(StorefrontError::Ignored(_))), "subscription_created makes the license: {order:?}");

    let created = storefront.parse(&posted(&storefront, &fixture("subscription_created"))).unwrap();
    assert_eq!(created.kind, EventKind::Sale);
    assert_eq!(created.sale_id.as_deref(), Some("1"), "the order's id: the same sale as order_created");
    assert_eq!(created.subscription_id.as_deref(), Some("1"));
    assert_eq!(created.product_ref, "1");
    assert_eq!(created.email.as_deref(), Some("gernser@yahoo.com"));

    let renewal = storefront.parse(&posted(&storefront, &fixture("subscription_payment_success"))).unwrap();
    assert_eq!(renewal.kind, EventKind::RecurringCharge);
    assert_eq!(renewal.subscription_id.as_deref(), Some("1"));
    assert_eq!(renewal.sale_id.as_deref(), Some("invoice-1"), "each invoice is charged once");
    let initial = as_event(
        fixture("subscription_payment_success"),
        "subscription_payment_success",
        json!({"billing_reason": "initial"}),
    );
    assert!(matches!(storefront.parse(&posted(&storefront, &initial)), Err(StorefrontError::Ignored(_))));
}

#[test]
fn subscription_changes() {
    let storefront = storefront();
    let cases = [
        ("subscription_cancelled", json!({"status": "cancelled", "cancelled": true}), EventKind::Cancellation),
        ("subscription_paused", json!({"status": "paused"}), EventKind::Cancellation),
        ("subscription_resumed", json!({"status": "active"}), EventKind::SubscriptionRestarted),
        ("subscription_unpaused", json!({"status": "active"}), EventKind::SubscriptionRestarted),
        (
            "subscription_expired",
            json!({"status": "expired", "ends_at": "2022-11-12T00:00:00.000000Z"}),
            EventKind::SubscriptionEnded,
        ),
        ("subscription_updated", json!({"variant_id": 2}), EventKind::SubscriptionUpdated),
    ];
    for (name, attributes, kind) in cases {
        let event = storefront
            .parse(&posted(&storefront, &as_event(fixture("subscription_created"), name, attributes)))
            .unwrap();
        assert_eq!(event.kind, kind, "{name}");
        assert_eq!((event.sale_id.as_deref(), event.subscription_id.as_deref()), (None, Some("1")), "{name}");
        assert!(event.occurred_at.is_some(), "{name}: dedupe needs when it happened");
        if name == "subscription_expired" {
            assert_eq!(event.occurred_at.unwrap().unix_timestamp(), 1_668_211_200, "when it ended");
        }
        if name == "subscription_updated" {
            assert_eq!(event.product_ref, "2", "the new plan's variant");
        }
    }
    let other = as_event(fixture("order_created"), "license_key_created", json!({}));
    assert!(matches!(storefront.parse(&posted(&storefront, &other)), Err(StorefrontError::Ignored(_))));
}

#[test]
fn unusable_bodies_are_malformed() {
    let storefront = storefront();
    let malformed = |body: &[u8]| {
        let request = InboundRequest { query: vec![], headers: vec![], body: body.to_vec() };
        matches!(storefront.parse(&request), Err(StorefrontError::Malformed(_)))
    };
    assert!(malformed(b""));
    assert!(malformed(b"[]"));
    assert!(malformed(br#"{"data": {"id": "1"}}"#), "no event name");
    assert!(
        malformed(br#"{"meta": {"event_name": "order_created"}, "data": {"id": "1", "attributes": {}}}"#),
        "no variant"
    );
}
