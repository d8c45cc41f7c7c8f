//! Subscription pings built field for field the way Gumroad's own code builds
//! them (`Subscription::PingNotification#payload_for_ping_notification`, the
//! `additional_params` of `Subscription#send_*_notification_webhook`) and
//! encoded the way its worker posts them (HTTParty's nested form encoding,
//! `ERB::Util.url_encode`, or JSON), with `seller_id` configured.

use serde_json::{json, Value};
use tessera_domain::storefront::{EventKind, InboundRequest, Storefront, StorefrontError};
use tessera_gumroad::GumroadStorefront;
use time::macros::datetime;

const SECRET: &str = "s3cret-from-the-post-url";
const SELLER: &str = "kL0psVL2admJSYRNs-OCMg==";
const SUBSCRIPTION: &str = "X-2bJvXRHyRLB5jkNKBxbA==";
const PRODUCT: &str = "32-nPAicqbLj8B_WswVlMw==";

/// What every subscription ping carries: note there is no `seller_id`, and
/// `user_id`/`user_email` are the subscriber's.
fn subscription_payload(resource_name: &str) -> Value {
    json!({
        "subscription_id": SUBSCRIPTION,
        "product_id": PRODUCT,
        "product_name": "Pencil Pro",
        "user_id": "3523953790232",
        "user_email": "customer@example.com",
        "purchase_ids": ["FO8TXN-dbxYaBdahG97Y-Q==", "Wn9hM2nM0wKhQ0Rr6ZE8yA=="],
        "created_at": "2026-10-01T09:15:00.000-07:00",
        "charge_occurrence_count": null,
        "recurrence": "monthly",
        "free_trial_ends_at": null,
        "resource_name": resource_name,
        "custom_fields": {"Company [optional]": "Analytical Engines"},
        "license_key": "85DB562A-C11D4B06-A2335A6B-8C079166",
    })
}

fn merged(mut payload: Value, extra: Value) -> Value {
    for (key, value) in extra.as_object().unwrap() {
        payload[key] = value.clone();
    }
    payload
}

fn cancellation(by: &str) -> Value {
    merged(
        subscription_payload("cancellation"),
        json!({"cancelled": true, "cancelled_at": "2026-11-30T10:00:00.000Z", by: true}),
    )
}

fn ended(reason: &str) -> Value {
    merged(
        subscription_payload("subscription_ended"),
        json!({"ended_at": "2026-12-01T00:00:00.000Z", "ended_reason": reason}),
    )
}

fn restarted() -> Value {
    merged(subscription_payload("subscription_restarted"), json!({"restarted_at": "2026-12-02T08:00:00.000Z"}))
}

fn updated(change: &str, old_tier: &str, new_tier: &str, effective: &str) -> Value {
    merged(
        subscription_payload("subscription_updated"),
        json!({
            "type": change,
            "effective_as_of": effective,
            "old_plan": {"tier": {"id": "tier-old-id", "name": old_tier}, "recurrence": "monthly",
                         "price_cents": 1000, "quantity": 1},
            "new_plan": {"tier": {"id": "tier-new-id", "name": new_tier}, "recurrence": "yearly",
                         "price_cents": 9000, "quantity": 1},
        }),
    )
}

/// `ERB::Util.url_encode`: everything but `A-Za-z0-9_.-~` percent-encoded.
fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => (byte as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// HTTParty's `HashConversions.normalize_keys`: nested hashes as `a[b][c]`,
/// arrays as repeated `a[]`, nil as an empty value. Before that, Gumroad's
/// worker percent-encodes brackets inside key names (`encode_brackets`).
fn normalize(key: &str, value: &Value, pairs: &mut Vec<(String, String)>) {
    match value {
        Value::Object(members) => {
            for (name, member) in members {
                let name = name.replace('[', "%5B").replace(']', "%5D");
                normalize(&format!("{key}[{name}]"), member, pairs);
            }
        }
        Value::Array(items) if items.is_empty() => pairs.push((format!("{key}[]"), String::new())),
        Value::Array(items) => items.iter().for_each(|item| normalize(&format!("{key}[]"), item, pairs)),
        Value::Null => pairs.push((key.to_owned(), String::new())),
        Value::String(text) => pairs.push((key.to_owned(), text.clone())),
        other => pairs.push((key.to_owned(), other.to_string())),
    }
}

fn form_body(payload: &Value) -> Vec<u8> {
    let mut pairs = Vec::new();
    for (key, value) in payload.as_object().unwrap() {
        normalize(&key.replace('[', "%5B").replace(']', "%5D"), value, &mut pairs);
    }
    let encoded: Vec<String> =
        pairs.iter().map(|(key, value)| format!("{}={}", url_encode(key), url_encode(value))).collect();
    encoded.join("&").into_bytes()
}

fn posted(payload: &Value, json: bool) -> InboundRequest {
    let (content_type, body) = if json {
        ("application/json", payload.to_string().into_bytes())
    } else {
        ("application/x-www-form-urlencoded", form_body(payload))
    };
    InboundRequest {
        query: vec![("secret".into(), SECRET.into())],
        headers: vec![("content-type".into(), content_type.into())],
        body,
    }
}

fn gumroad() -> GumroadStorefront {
    GumroadStorefront::new(SECRET, Some(SELLER.into()))
}

#[test]
fn the_encoder_posts_what_gumroad_posts() {
    let body = String::from_utf8(form_body(&updated("upgrade", "Basic", "Pro", "2026-11-30T10:00:00.000Z"))).unwrap();
    assert!(body
        .contains("purchase_ids%5B%5D=FO8TXN-dbxYaBdahG97Y-Q%3D%3D&purchase_ids%5B%5D=Wn9hM2nM0wKhQ0Rr6ZE8yA%3D%3D"));
    assert!(body.contains("new_plan%5Btier%5D%5Bname%5D=Pro"));
    assert!(body.contains("free_trial_ends_at=&"), "nil is an empty value");
    assert!(body.contains("custom_fields%5BCompany%20%255Boptional%255D%5D=Analytical%20Engines"));
    assert!(!body.contains("seller_id"));
}

#[test]
fn subscription_pings_without_seller_id_are_accepted_with_seller_id_configured() {
    let storefront = gumroad();
    for json in [false, true] {
        for payload in [
            cancellation("cancelled_by_buyer"),
            ended("cancelled"),
            restarted(),
            updated("upgrade", "Basic", "Pro", "2026-11-30T10:00:00.000Z"),
        ] {
            let request = posted(&payload, json);
            storefront.authenticate(&request).unwrap_or_else(|error| panic!("{payload}: {error}"));
            let event = storefront.parse(&request).unwrap();
            assert_eq!(event.subscription_id.as_deref(), Some(SUBSCRIPTION));
            assert_eq!(event.product_ref, PRODUCT);
            assert_eq!(event.email.as_deref(), Some("customer@example.com"));
            assert_eq!(event.sale_id, None);
        }
    }
}

#[test]
fn a_ping_naming_another_seller_or_without_the_secret_is_refused() {
    let storefront = gumroad();
    let refused =
        |request: &InboundRequest| matches!(storefront.authenticate(request), Err(StorefrontError::Unauthenticated(_)));
    for json in [false, true] {
        let stranger = merged(cancellation("cancelled_by_buyer"), json!({"seller_id": "another-seller"}));
        assert!(refused(&posted(&stranger, json)));
        let mut no_secret = posted(&cancellation("cancelled_by_buyer"), json);
        no_secret.query.clear();
        assert!(refused(&no_secret));
        let ours = merged(cancellation("cancelled_by_buyer"), json!({"seller_id": SELLER}));
        storefront.authenticate(&posted(&ours, json)).unwrap();
    }
}

#[test]
fn each_cancellation_says_who_cancelled() {
    let storefront = gumroad();
    for (flag, reason) in [
        ("cancelled_by_buyer", "cancelled by the buyer"),
        ("cancelled_by_seller", "cancelled by the seller"),
        ("cancelled_by_admin", "cancelled by Gumroad"),
        ("cancelled_due_to_payment_failures", "cancelled after failed payments"),
    ] {
        let event = storefront.parse(&posted(&cancellation(flag), false)).unwrap();
        assert_eq!(event.kind, EventKind::Cancellation);
        assert_eq!(event.reason.as_deref(), Some(reason));
        assert_eq!(event.occurred_at, Some(datetime!(2026-11-30 10:00:00 UTC)));
    }
}

#[test]
fn each_end_carries_its_reason_and_time() {
    let storefront = gumroad();
    for reason in ["failed_payment", "fixed_subscription_period_ended", "cancelled"] {
        let event = storefront.parse(&posted(&ended(reason), false)).unwrap();
        assert_eq!(event.kind, EventKind::SubscriptionEnded);
        assert_eq!(event.reason.as_deref(), Some(reason));
        assert_eq!(event.occurred_at, Some(datetime!(2026-12-01 00:00:00 UTC)));
    }
    let restart = storefront.parse(&posted(&restarted(), true)).unwrap();
    assert_eq!(restart.kind, EventKind::SubscriptionRestarted);
    assert_eq!(restart.occurred_at, Some(datetime!(2026-12-02 08:00:00 UTC)));
}

#[test]
fn a_plan_change_names_the_new_tier_and_when_it_applies() {
    let storefront = gumroad();
    for json in [false, true] {
        let event =
            storefront.parse(&posted(&updated("downgrade", "Pro", "Basic", "2026-12-30T10:00:00.000Z"), json)).unwrap();
        assert_eq!(event.kind, EventKind::SubscriptionUpdated);
        assert_eq!(event.variant.as_deref(), Some("Basic"), "the new plan's tier, not the old one");
        assert_eq!(event.billing_period_days, Some(366), "the new plan's recurrence");
        assert_eq!(event.occurred_at, Some(datetime!(2026-12-30 10:00:00 UTC)));
        assert_eq!(event.reason.as_deref(), Some("downgrade"));
    }
}

#[test]
fn rails_times_in_any_zone_are_read() {
    let storefront = gumroad();
    let payload = merged(cancellation("cancelled_by_buyer"), json!({"cancelled_at": "2026-11-30T02:00:00.000-08:00"}));
    let event = storefront.parse(&posted(&payload, false)).unwrap();
    assert_eq!(event.occurred_at, Some(datetime!(2026-11-30 10:00:00 UTC)));
}

#[test]
fn a_json_body_that_is_not_an_object_is_malformed() {
    let storefront = gumroad();
    let mut request = posted(&json!({}), true);
    for body in [&b"[1,2]"[..], b"\"text\"", b"{not json"] {
        request.body = body.to_vec();
        assert!(matches!(storefront.parse(&request), Err(StorefrontError::Malformed(_))), "{body:?}");
    }
}
