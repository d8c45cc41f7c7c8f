//! The adapter on events shaped as Polar's webhook schemas show them
//! (`tests/fixtures/`), signed both ways Polar signs (the Standard Webhooks
//! key and, for endpoints made before 2026-09-08, the raw secret), checked
//! against the signatures Standard Webhooks' own specification example and
//! Python's `hmac` compute.

use std::sync::Arc;

use serde_json::{json, Value};
use tessera_domain::storefront::{EventKind, InboundRequest, Storefront, StorefrontError};
use tessera_memory::ManualClock;
use tessera_polar::{KeyScheme, PolarStorefront};
use time::OffsetDateTime;

/// The secret of Standard Webhooks' specification example.
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const AT: i64 = 1_614_265_330;

fn polar(now: i64) -> PolarStorefront {
    PolarStorefront::new(SECRET, Arc::new(ManualClock::at(OffsetDateTime::from_unix_timestamp(now).unwrap())))
}

fn posted(id: &str, timestamp: i64, signature: &str, body: &[u8]) -> InboundRequest {
    InboundRequest {
        query: vec![],
        headers: vec![
            ("webhook-id".into(), id.into()),
            ("webhook-timestamp".into(), timestamp.to_string()),
            ("webhook-signature".into(), signature.into()),
        ],
        body: body.to_vec(),
    }
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn signed(document: &Value) -> InboundRequest {
    let body = serde_json::to_vec(document).unwrap();
    posted(ID, AT, &PolarStorefront::sign(SECRET, KeyScheme::Standard, ID, AT, &body), &body)
}

#[test]
fn both_of_polars_keys_verify_and_nothing_else_does() {
    let body = br#"{"test": 2432232314}"#;
    // Standard Webhooks' specification example signature.
    let standard = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    // Python: base64(hmac.new(SECRET.encode(), b"<id>.<ts>.<body>", sha256).digest()).
    let raw_secret = "v1,TcxlhK9b6UD6iVI1ZU2tTqp8PEVfYRseNNfa6b+LcUg=";
    assert_eq!(PolarStorefront::sign(SECRET, KeyScheme::Standard, ID, AT, body), standard);
    assert_eq!(PolarStorefront::sign(SECRET, KeyScheme::RawSecret, ID, AT, body), raw_secret);
    let storefront = polar(AT);
    storefront.authenticate(&posted(ID, AT, standard, body)).unwrap();
    storefront.authenticate(&posted(ID, AT, raw_secret, body)).unwrap();
    // Several signatures, space-separated, during a rotation; unknown versions skipped.
    storefront.authenticate(&posted(ID, AT, &format!("v1,AAAA v1a,xyz {standard}"), body)).unwrap();

    let refused =
        |request: InboundRequest| matches!(storefront.authenticate(&request), Err(StorefrontError::Unauthenticated(_)));
    assert!(refused(posted(ID, AT, standard, br#"{"test": 2432232315}"#)), "tampered body");
    assert!(refused(posted("msg_other", AT, standard, body)), "another message id");
    assert!(refused(posted(ID, AT + 1, standard, body)), "another timestamp");
    assert!(refused(posted(ID, AT, "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", body)), "not v1");
    assert!(refused(posted(ID, AT, "v1,not base64!", body)));
    let mut missing = posted(ID, AT, standard, body);
    missing.headers.retain(|(name, _)| name != "webhook-id");
    assert!(refused(missing));
    assert!(polar(AT + 301).authenticate(&posted(ID, AT, standard, body)).is_err(), "replayed after five minutes");
    assert!(polar(AT + 300).authenticate(&posted(ID, AT, standard, body)).is_ok());
    assert!(polar(AT - 301).authenticate(&posted(ID, AT, standard, body)).is_err(), "from the future");
    let another = PolarStorefront::new(
        "whsec_dGhpcyBpcyBhbm90aGVyIGtleQ==",
        Arc::new(ManualClock::at(OffsetDateTime::from_unix_timestamp(AT).unwrap())),
    );
    assert!(another.authenticate(&posted(ID, AT, standard, body)).is_err(), "another endpoint's secret");
}

#[test]
fn orders_are_sales_charges_and_refunds() {
    let storefront = polar(AT);
    let sale = storefront.parse(&signed(&fixture("order.paid"))).unwrap();
    assert_eq!(sale.kind, EventKind::Sale);
    assert_eq!(sale.sale_id.as_deref(), Some("8a2d6c1e-5f3b-4d7a-9c2e-1b4f6a8d0e3c"));
    assert_eq!(sale.product_ref, "d1c3e5f7-0a2b-4c6d-8e0f-1a3b5c7d9e1f", "mapped by product id");
    assert_eq!(sale.email.as_deref(), Some("ada@example.com"));
    assert_eq!(sale.name.as_deref(), Some("Ada Lovelace"));
    assert_eq!(sale.subscription_id, None);

    let mut first = fixture("order.paid");
    first["data"]["billing_reason"] = json!("subscription_create");
    first["data"]["subscription_id"] = json!("5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9");
    first["data"]["subscription"] = json!({"recurring_interval": "year", "recurring_interval_count": 1});
    let first = storefront.parse(&signed(&first)).unwrap();
    assert_eq!((first.kind, first.billing_period_days), (EventKind::Sale, Some(366)));
    assert!(first.subscription_id.is_some());

    let mut cycle = fixture("order.paid");
    cycle["data"]["billing_reason"] = json!("subscription_cycle");
    cycle["data"]["subscription_id"] = json!("5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9");
    assert_eq!(storefront.parse(&signed(&cycle)).unwrap().kind, EventKind::RecurringCharge);
    cycle["data"]["billing_reason"] = json!("subscription_update");
    assert!(matches!(storefront.parse(&signed(&cycle)), Err(StorefrontError::Ignored(_))));

    let mut refund = fixture("order.paid");
    refund["type"] = json!("order.refunded");
    refund["data"]["status"] = json!("refunded");
    let refunded = storefront.parse(&signed(&refund)).unwrap();
    assert_eq!((refunded.kind, refunded.sale_id), (EventKind::Refund, sale.sale_id));
    refund["data"]["status"] = json!("partially_refunded");
    assert!(matches!(storefront.parse(&signed(&refund)), Err(StorefrontError::Ignored(_))));
}

#[test]
fn subscription_events() {
    let storefront = polar(AT);
    let updated = storefront.parse(&signed(&fixture("subscription.updated"))).unwrap();
    assert_eq!(updated.kind, EventKind::SubscriptionUpdated);
    assert_eq!(updated.product_ref, "e2d4f6a8-1b3c-4d5e-9f0a-2b4c6d8e0f1a");
    assert_eq!(updated.renewing, Some(false), "cancel_at_period_end");
    assert_eq!(updated.billing_period_days, Some(31));
    for (event_type, kind) in [
        ("subscription.canceled", EventKind::Cancellation),
        ("subscription.uncanceled", EventKind::SubscriptionRestarted),
        ("subscription.revoked", EventKind::SubscriptionEnded),
    ] {
        let mut document = fixture("subscription.updated");
        document["type"] = json!(event_type);
        document["data"]["ended_at"] = json!("2025-08-02T13:10:38.418112Z");
        let event = storefront.parse(&signed(&document)).unwrap();
        assert_eq!(event.kind, kind, "{event_type}");
        assert_eq!(event.subscription_id.as_deref(), Some("5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9"));
        assert!(event.occurred_at.is_some());
    }
    let mut active = fixture("subscription.updated");
    active["type"] = json!("subscription.active");
    assert!(matches!(storefront.parse(&signed(&active)), Err(StorefrontError::Ignored(_))));
    active["type"] = json!("checkout.created");
    assert!(matches!(storefront.parse(&signed(&active)), Err(StorefrontError::Ignored(_))));
    let malformed = posted(ID, AT, "", b"{\"type\": \"order.paid\"}");
    assert!(matches!(storefront.parse(&malformed), Err(StorefrontError::Malformed(_))));
}
