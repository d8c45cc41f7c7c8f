//! The adapter on events shaped as Stripe's API reference shows them
//! (`tests/fixtures/`: the `Event` wrapper around a Checkout Session,
//! Invoice, Subscription, Charge and Dispute, API version 2024-06-20),
//! signed as `stripe-node`'s `generateTestHeaderString` signs, and completed
//! against a local stand-in for Stripe's API.

use std::sync::Arc;

use serde_json::{json, Value};
use tessera_domain::storefront::{EventKind, InboundRequest, Storefront, StorefrontError};
use tessera_memory::ManualClock;
use tessera_storefront_kit::testing::FakeApi;
use tessera_stripe::StripeStorefront;
use time::OffsetDateTime;

const SECRET: &str = "whsec_test_secret_0123456789";
const NOW: i64 = 1_724_406_400;
const SESSION: &str = "cs_test_a1YS1URlnyQCN5fUUduORoQ7Pw41PJqDWkIVQCpJPqkfIhd6tVY8XB1OLY";

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn stripe(api: &str) -> StripeStorefront {
    let clock = Arc::new(ManualClock::at(OffsetDateTime::from_unix_timestamp(NOW).unwrap()));
    StripeStorefront::new(SECRET, "rk_test_key", api, clock)
}

fn posted(signature: String, body: Vec<u8>) -> InboundRequest {
    InboundRequest { query: vec![], headers: vec![("stripe-signature".into(), signature)], body }
}

fn signed(storefront: &StripeStorefront, document: &Value) -> InboundRequest {
    let body = serde_json::to_vec(document).unwrap();
    posted(storefront.sign(NOW, &body), body)
}

#[test]
fn signatures_as_stripe_makes_them() {
    let storefront = stripe("http://127.0.0.1:9");
    // Computed independently: Python `hmac.new(secret, b"1724406400." + body, sha256)`.
    let body = br#"{"type":"ping"}"#.to_vec();
    let expected = "3ec21c67125e8d647d3be27ceabececc484b29351bcba440347afad60c0e1b09";
    assert_eq!(storefront.sign(NOW, &body), format!("t={NOW},v1={expected}"));
    storefront.authenticate(&posted(format!("t={NOW},v1={expected}"), body.clone())).unwrap();

    // A rolled secret: Stripe sends one v1 per valid secret; any one will do. v0 is never read.
    let rotated = format!("t={NOW},v1={},v1={expected},v0={expected}", "0".repeat(64));
    storefront.authenticate(&posted(rotated, body.clone())).unwrap();

    let refused = |signature: String, body: &[u8]| {
        matches!(storefront.authenticate(&posted(signature, body.to_vec())), Err(StorefrontError::Unauthenticated(_)))
    };
    assert!(refused(format!("t={NOW},v1={expected}"), br#"{"type":"pong"}"#), "tampered body");
    assert!(refused(format!("t={},v1={expected}", NOW + 1), &body), "another timestamp");
    assert!(refused(format!("t={NOW},v0={expected}"), &body), "only v0");
    assert!(refused(format!("v1={expected}"), &body), "no t");
    assert!(refused(String::new(), &body));
    let old = stripe("http://127.0.0.1:9");
    let late = old.sign(NOW - 301, &body);
    assert!(refused(late, &body), "older than 300 s: a replayed capture");
    assert!(!refused(old.sign(NOW - 300, &body), &body), "300 s is still in the window");
    assert!(refused(old.sign(NOW + 301, &body), &body), "from the future");
    let other = StripeStorefront::new(
        "whsec_another_endpoint",
        "k",
        "http://127.0.0.1:9",
        Arc::new(ManualClock::at(OffsetDateTime::from_unix_timestamp(NOW).unwrap())),
    );
    assert!(refused(other.sign(NOW, &body), &body), "another endpoint's secret");
}

#[tokio::test]
async fn a_checkout_session_is_a_sale_of_its_listed_price() {
    let items =
        std::fs::read_to_string(format!("{}/tests/fixtures/line_items.json", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let api = FakeApi::start(&[(&format!("/v1/checkout/sessions/{SESSION}/line_items?limit=1"), &items)]);
    let storefront = stripe(&api.url);
    let request = signed(&storefront, &fixture("checkout.session.completed"));
    let parsed = storefront.parse(&request).unwrap();
    assert_eq!(parsed.kind, EventKind::Sale);
    assert_eq!(parsed.sale_id.as_deref(), Some("pi_3PqPdSKb9q6OnNsL0b3y1Xz9"), "what refunds and disputes name");
    assert_eq!(parsed.email.as_deref(), Some("jenny.rosen@example.com"));
    assert_eq!(parsed.name.as_deref(), Some("Jenny Rosen"));
    assert!(parsed.test, "livemode = false");
    assert_eq!(parsed.product_ref, "", "the session does not say what was bought");

    let event = storefront.complete(&request, parsed.clone()).await.unwrap();
    assert_eq!(event.product_ref, "price_1PqPZ2Kb9q6OnNsLhT1Y0m2C");
    assert_eq!(event.billing_period_days, None, "a one-time price");
    assert_eq!(api.asked()[0].1, "Bearer rk_test_key");

    api.set_down(true);
    let down = storefront.complete(&request, parsed).await;
    assert!(matches!(down, Err(StorefrontError::Unavailable(_))), "{down:?}");

    let mut unpaid = fixture("checkout.session.completed");
    unpaid["data"]["object"]["payment_status"] = json!("unpaid");
    assert!(matches!(storefront.parse(&signed(&storefront, &unpaid)), Err(StorefrontError::Ignored(_))));
    unpaid["type"] = json!("checkout.session.async_payment_succeeded");
    unpaid["data"]["object"]["payment_status"] = json!("paid");
    assert_eq!(storefront.parse(&signed(&storefront, &unpaid)).unwrap().kind, EventKind::Sale);

    let mut subscription = fixture("checkout.session.completed");
    let session = &mut subscription["data"]["object"];
    session["mode"] = json!("subscription");
    session["payment_intent"] = Value::Null;
    session["invoice"] = json!("in_1PqPdTKb9q6OnNsLfirst");
    session["subscription"] = json!("sub_1PqPdTKb9q6OnNsLc1Xm2YzA");
    let sale = storefront.parse(&signed(&storefront, &subscription)).unwrap();
    assert_eq!(sale.sale_id.as_deref(), Some("in_1PqPdTKb9q6OnNsLfirst"));
    assert_eq!(sale.subscription_id.as_deref(), Some("sub_1PqPdTKb9q6OnNsLc1Xm2YzA"));
}

#[test]
fn renewals_refunds_disputes() {
    let storefront = stripe("http://127.0.0.1:9");
    let renewal = storefront.parse(&signed(&storefront, &fixture("invoice.paid"))).unwrap();
    assert_eq!(renewal.kind, EventKind::RecurringCharge);
    assert_eq!(renewal.sale_id.as_deref(), Some("in_1QsY2hKb9q6OnNsL8r4wC3eD"));
    assert_eq!(renewal.subscription_id.as_deref(), Some("sub_1PqPdTKb9q6OnNsLc1Xm2YzA"));
    assert_eq!(renewal.product_ref, "price_1PqPa1Kb9q6OnNsLmonthly");
    assert_eq!(renewal.billing_period_days, Some(31));
    assert_eq!(renewal.occurred_at.unwrap().unix_timestamp(), 1_727_084_805, "when it was paid");

    // API version 2025-03-31 moved the subscription and the price.
    let mut basil = fixture("invoice.paid");
    let invoice = &mut basil["data"]["object"];
    invoice.as_object_mut().unwrap().remove("subscription");
    invoice["parent"] = json!({"subscription_details": {"subscription": "sub_new"}, "type": "subscription_details"});
    let line = &mut invoice["lines"]["data"][0];
    line.as_object_mut().unwrap().remove("price");
    line["pricing"] = json!({"price_details": {"price": "price_new", "product": "prod_x"}, "type": "price_details"});
    let renewal = storefront.parse(&signed(&storefront, &basil)).unwrap();
    assert_eq!((renewal.subscription_id.as_deref(), renewal.product_ref.as_str()), (Some("sub_new"), "price_new"));
    assert_eq!(renewal.billing_period_days, Some(30), "from the line's period");

    let mut first = fixture("invoice.paid");
    first["data"]["object"]["billing_reason"] = json!("subscription_create");
    assert!(matches!(storefront.parse(&signed(&storefront, &first)), Err(StorefrontError::Ignored(_))));

    let refund = storefront.parse(&signed(&storefront, &fixture("charge.refunded"))).unwrap();
    assert_eq!((refund.kind, refund.sale_id.as_deref()), (EventKind::Refund, Some("pi_3PqPdSKb9q6OnNsL0b3y1Xz9")));
    let mut partial = fixture("charge.refunded");
    partial["data"]["object"]["amount_refunded"] = json!(1000);
    partial["data"]["object"]["refunded"] = json!(false);
    assert!(matches!(storefront.parse(&signed(&storefront, &partial)), Err(StorefrontError::Ignored(_))));

    let dispute = storefront.parse(&signed(&storefront, &fixture("charge.dispute.created"))).unwrap();
    assert_eq!((dispute.kind, dispute.sale_id.as_deref()), (EventKind::Dispute, Some("pi_3PqPdSKb9q6OnNsL0b3y1Xz9")));
    let mut closed = fixture("charge.dispute.created");
    closed["type"] = json!("charge.dispute.closed");
    closed["data"]["object"]["status"] = json!("won");
    assert_eq!(storefront.parse(&signed(&storefront, &closed)).unwrap().kind, EventKind::DisputeWon);
    closed["data"]["object"]["status"] = json!("lost");
    assert!(matches!(storefront.parse(&signed(&storefront, &closed)), Err(StorefrontError::Ignored(_))));
}

#[test]
fn subscription_updates_say_what_changed() {
    let storefront = stripe("http://127.0.0.1:9");
    let kind = |document: &Value| storefront.parse(&signed(&storefront, document)).map(|event| event.kind);
    let cancel = fixture("customer.subscription.updated");
    assert_eq!(kind(&cancel).unwrap(), EventKind::Cancellation);
    let event = storefront.parse(&signed(&storefront, &cancel)).unwrap();
    assert_eq!(event.subscription_id.as_deref(), Some("sub_1PqPdTKb9q6OnNsLc1Xm2YzA"));
    assert_eq!(event.reason.as_deref(), Some("cancellation_requested"));

    let mut undo = cancel.clone();
    undo["data"]["object"]["cancel_at_period_end"] = json!(false);
    undo["data"]["object"]["cancel_at"] = Value::Null;
    undo["data"]["previous_attributes"] = json!({"cancel_at_period_end": true, "cancel_at": 1729676800});
    assert_eq!(kind(&undo).unwrap(), EventKind::SubscriptionRestarted);

    let mut plan = undo.clone();
    plan["data"]["object"]["items"]["data"][0]["price"]["id"] = json!("price_yearly");
    plan["data"]["previous_attributes"] = json!({"items": {"data": []}});
    let change = storefront.parse(&signed(&storefront, &plan)).unwrap();
    assert_eq!((change.kind, change.product_ref.as_str()), (EventKind::SubscriptionUpdated, "price_yearly"));

    let mut other = undo.clone();
    other["data"]["previous_attributes"] = json!({"metadata": {}});
    assert!(matches!(kind(&other), Err(StorefrontError::Ignored(_))));

    let mut deleted = cancel.clone();
    deleted["type"] = json!("customer.subscription.deleted");
    deleted["data"]["object"]["ended_at"] = json!(1729676800);
    let ended = storefront.parse(&signed(&storefront, &deleted)).unwrap();
    assert_eq!(ended.kind, EventKind::SubscriptionEnded);
    assert_eq!(ended.occurred_at.unwrap().unix_timestamp(), 1_729_676_800);

    let mut unknown = cancel;
    unknown["type"] = json!("customer.created");
    assert!(matches!(kind(&unknown), Err(StorefrontError::Ignored(_))));
}

#[tokio::test]
async fn a_refund_naming_only_its_payment_intent_finds_the_invoice_it_paid() {
    let intent = "pi_3PqPdSKb9q6OnNsL0b3y1Xz9";
    let payments = |invoice: Option<&str>| {
        let data = invoice.map_or(json!([]), |invoice| {
            json!([{"id": "inpay_1", "object": "invoice_payment", "invoice": invoice,
                    "payment": {"type": "payment_intent", "payment_intent": intent}, "status": "paid"}])
        });
        json!({"object": "list", "data": data, "has_more": false}).to_string()
    };
    let path =
        format!("/v1/invoice_payments?payment%5Btype%5D=payment_intent&payment%5Bpayment_intent%5D={intent}&limit=1");
    let invoice = json!({"id": "in_first", "object": "invoice",
        "parent": {"type": "subscription_details", "subscription_details": {"subscription": "sub_1"}}});
    let api = FakeApi::start(&[(&path, &payments(Some("in_first"))), ("/v1/invoices/in_first", &invoice.to_string())]);
    let storefront = stripe(&api.url);
    let request = signed(&storefront, &fixture("charge.refunded"));
    let parsed = storefront.parse(&request).unwrap();
    let refund = storefront.complete(&request, parsed.clone()).await.unwrap();
    assert_eq!((refund.sale_id.as_deref(), refund.subscription_id.as_deref()), (Some("in_first"), Some("sub_1")));

    // A one-time payment paid no invoice: the payment intent is the sale.
    api.add_route(&path, &payments(None));
    let one_time = storefront.complete(&request, parsed.clone()).await.unwrap();
    assert_eq!((one_time.sale_id, one_time.subscription_id), (parsed.sale_id.clone(), None));
    api.set_down(true);
    assert!(matches!(storefront.complete(&request, parsed).await, Err(StorefrontError::Unavailable(_))));

    // A charge that names its invoice (API versions before 2025-03-31) asks nothing.
    let mut old = fixture("charge.refunded");
    old["data"]["object"]["invoice"] = json!("in_named");
    let request = signed(&storefront, &old);
    let named = storefront.complete(&request, storefront.parse(&request).unwrap()).await.unwrap();
    assert_eq!(named.sale_id.as_deref(), Some("in_named"));
}
