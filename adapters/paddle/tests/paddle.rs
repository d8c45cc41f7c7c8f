//! The adapter on notifications as Paddle's developer documentation shows
//! them (`tests/fixtures/`: the example `transaction.completed`,
//! `subscription.updated` and `adjustment.updated` payloads and the "Get a
//! customer" response), signed as `@paddle/paddle-node-sdk` verifies, and
//! completed against a local stand-in for Paddle's API.

use std::sync::Arc;

use serde_json::{json, Value};
use tessera_domain::storefront::{EventKind, InboundRequest, Storefront, StorefrontError};
use tessera_memory::ManualClock;
use tessera_paddle::PaddleStorefront;
use tessera_storefront_kit::testing::FakeApi;
use time::OffsetDateTime;

const SECRET: &str = "pdl_ntfset_01hv8wptq_secret";
const NOW: i64 = 1_712_917_129;
const CUSTOMER: &str = "ctm_01hv6y1jedq4p1n0yqn5ba3ky4";

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn paddle(api: &str) -> PaddleStorefront {
    let clock = Arc::new(ManualClock::at(OffsetDateTime::from_unix_timestamp(NOW).unwrap()));
    PaddleStorefront::new(SECRET, "pdl_apikey", api, 5, clock)
}

fn posted(signature: String, body: Vec<u8>) -> InboundRequest {
    InboundRequest { query: vec![], headers: vec![("paddle-signature".into(), signature)], body }
}

fn signed(storefront: &PaddleStorefront, document: &Value) -> InboundRequest {
    let body = serde_json::to_vec(document).unwrap();
    posted(storefront.sign(NOW, &body), body)
}

#[test]
fn signatures_as_paddle_makes_them() {
    let storefront = paddle("http://127.0.0.1:9");
    // Computed independently: Python `hmac.new(secret, b"1712917129:" + body, sha256)`.
    let body = br#"{"event_type":"ping"}"#.to_vec();
    let expected = "bd85bfe7276db41b58f0c2fe225a89a1db9dd6c8e38177a49f9b096ddcdf8e89";
    assert_eq!(storefront.sign(NOW, &body), format!("ts={NOW};h1={expected}"));
    // During a secret's rotation Paddle sends an h1 per valid secret.
    storefront.authenticate(&posted(format!("ts={NOW};h1={};h1={expected}", "ab".repeat(32)), body.clone())).unwrap();

    let refused = |signature: String, body: &[u8]| {
        matches!(storefront.authenticate(&posted(signature, body.to_vec())), Err(StorefrontError::Unauthenticated(_)))
    };
    assert!(refused(format!("ts={NOW};h1={expected}"), br#"{"event_type":"pong"}"#), "tampered");
    assert!(refused(format!("ts={};h1={expected}", NOW - 1), &body), "another ts");
    assert!(refused(format!("h1={expected}"), &body), "no ts");
    assert!(refused(format!("ts={NOW}"), &body), "no h1");
    assert!(refused(storefront.sign(NOW - 6, &body), &body), "older than the 5 s tolerance: a replay");
    assert!(!refused(storefront.sign(NOW - 5, &body), &body));
    let clock = Arc::new(ManualClock::at(OffsetDateTime::from_unix_timestamp(NOW).unwrap()));
    let other = PaddleStorefront::new("pdl_ntfset_another_destination", "k", "http://127.0.0.1:9", 5, clock);
    assert!(refused(other.sign(NOW, &body), &body), "another destination's secret");
}

#[tokio::test]
async fn a_completed_transaction_is_a_sale_to_the_customer_paddle_names() {
    let customer =
        std::fs::read_to_string(format!("{}/tests/fixtures/customer.json", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let api = FakeApi::start(&[(&format!("/customers/{CUSTOMER}"), &customer)]);
    let storefront = paddle(&api.url);
    let request = signed(&storefront, &fixture("transaction.completed"));
    let parsed = storefront.parse(&request).unwrap();
    assert_eq!(parsed.kind, EventKind::Sale);
    assert_eq!(parsed.sale_id.as_deref(), Some("txn_01hv8wptq8987qeep44cyrewp9"));
    assert_eq!(parsed.subscription_id.as_deref(), Some("sub_01hv8x29kz0t586xy6zn1a62ny"));
    assert_eq!(parsed.product_ref, "pri_01gsz8x8sawmvhz1pv30nge1ke", "mapped by price id");
    assert_eq!(parsed.billing_period_days, Some(31));
    assert_eq!(parsed.email, None, "a transaction names its customer by id only");

    let event = storefront.complete(&request, parsed.clone()).await.unwrap();
    assert_eq!(event.email.as_deref(), Some("jo@example.com"));
    assert_eq!(event.name.as_deref(), Some("Jo Brown"));
    assert_eq!(api.asked(), [(format!("/customers/{CUSTOMER}"), "Bearer pdl_apikey".to_owned())]);

    api.set_down(true);
    assert!(matches!(storefront.complete(&request, parsed).await, Err(StorefrontError::Unavailable(_))));

    let mut renewal = fixture("transaction.completed");
    renewal["data"]["origin"] = json!("subscription_recurring");
    renewal["data"]["id"] = json!("txn_renewal");
    let charge = storefront.parse(&signed(&storefront, &renewal)).unwrap();
    assert_eq!((charge.kind, charge.sale_id.as_deref()), (EventKind::RecurringCharge, Some("txn_renewal")));
    let charged = storefront.complete(&signed(&storefront, &renewal), charge).await.unwrap();
    assert_eq!(charged.email, None, "only a sale asks for its buyer");
    renewal["data"]["origin"] = json!("subscription_update");
    assert!(matches!(storefront.parse(&signed(&storefront, &renewal)), Err(StorefrontError::Ignored(_))));
}

#[test]
fn subscription_updates_carry_the_plan_and_whether_it_renews() {
    let storefront = paddle("http://127.0.0.1:9");
    let scheduled = storefront.parse(&signed(&storefront, &fixture("subscription.updated"))).unwrap();
    assert_eq!(scheduled.kind, EventKind::SubscriptionUpdated);
    assert_eq!(scheduled.subscription_id.as_deref(), Some("sub_01hv8x29kz0t586xy6zn1a62ny"));
    assert_eq!(scheduled.product_ref, "pri_01gsz8x8sawmvhz1pv30nge1ke");
    assert_eq!(scheduled.renewing, Some(false), "a cancellation is scheduled");

    let mut undone = fixture("subscription.updated");
    undone["data"]["scheduled_change"] = Value::Null;
    undone["data"]["items"][0]["price"]["id"] = json!("pri_yearly");
    let undone = storefront.parse(&signed(&storefront, &undone)).unwrap();
    assert_eq!((undone.renewing, undone.product_ref.as_str()), (Some(true), "pri_yearly"));

    for (event_type, kind) in [
        ("subscription.canceled", EventKind::SubscriptionEnded),
        ("subscription.paused", EventKind::Cancellation),
        ("subscription.resumed", EventKind::SubscriptionRestarted),
    ] {
        let mut document = fixture("subscription.updated");
        document["event_type"] = json!(event_type);
        document["data"]["canceled_at"] = json!("2024-05-12T10:18:48.294633Z");
        let event = storefront.parse(&signed(&storefront, &document)).unwrap();
        assert_eq!(event.kind, kind, "{event_type}");
        assert!(event.occurred_at.is_some());
    }
    for event_type in ["subscription.created", "subscription.past_due"] {
        let mut document = fixture("subscription.updated");
        document["event_type"] = json!(event_type);
        assert!(matches!(storefront.parse(&signed(&storefront, &document)), Err(StorefrontError::Ignored(_))));
    }
}

#[test]
fn approved_adjustments_refund_and_dispute() {
    let storefront = paddle("http://127.0.0.1:9");
    let refund = storefront.parse(&signed(&storefront, &fixture("adjustment.updated"))).unwrap();
    assert_eq!((refund.kind, refund.sale_id.as_deref()), (EventKind::Refund, Some("txn_01hv8wptq8987qeep44cyrewp9")));

    let with = |changes: Value| {
        let mut document = fixture("adjustment.updated");
        for (key, value) in changes.as_object().unwrap() {
            document["data"][key] = value.clone();
        }
        storefront.parse(&signed(&storefront, &document)).map(|event| event.kind)
    };
    assert!(matches!(with(json!({"status": "pending_approval"})), Err(StorefrontError::Ignored(_))));
    assert!(matches!(with(json!({"items": [{"type": "partial", "amount": "100"}]})), Err(StorefrontError::Ignored(_))));
    assert!(matches!(with(json!({"action": "credit"})), Err(StorefrontError::Ignored(_))));
    assert_eq!(with(json!({"action": "chargeback"})).unwrap(), EventKind::Dispute);
    assert_eq!(with(json!({"action": "chargeback_reverse"})).unwrap(), EventKind::DisputeWon);
    assert!(matches!(with(json!({"transaction_id": null})), Err(StorefrontError::Malformed(_))));
}
