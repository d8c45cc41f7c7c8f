//! Gumroad's wire format, from the documented sale ping (a copy of
//! `shared/fixtures/gumroad/sale-ping.txt`) and its documented variants.

use tessera_domain::storefront::{EventKind, InboundRequest, Storefront, StorefrontError};
use tessera_gumroad::GumroadStorefront;
use time::macros::datetime;

const SECRET: &str = "s3cret-from-the-post-url";
const SELLER: &str = "kL0psVL2admJSYRNs-OCMg==";

/// The documented sale ping as (key, value) pairs.
fn sale_ping() -> Vec<(String, String)> {
    include_str!("fixtures/sale-ping.txt")
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let (key, value) = line.split_once('=').expect("key=value");
            (key.to_owned(), value.to_owned())
        })
        .collect()
}

/// Percent-encodes like Gumroad does on the wire (`card%5Bvisual%5D=…`).
fn encode(fields: &[(String, String)]) -> Vec<u8> {
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (key, value) in fields {
        form.append_pair(key, value);
    }
    form.finish().into_bytes()
}

fn with(mut fields: Vec<(String, String)>, changes: &[(&str, Option<&str>)]) -> Vec<(String, String)> {
    for (key, value) in changes {
        fields.retain(|(existing, _)| existing != key);
        if let Some(value) = value {
            fields.push((key.to_string(), value.to_string()));
        }
    }
    fields
}

fn request(secret: &str, fields: &[(String, String)]) -> InboundRequest {
    InboundRequest {
        query: vec![("secret".into(), secret.into())],
        headers: vec![("content-type".into(), "application/x-www-form-urlencoded".into())],
        body: encode(fields),
    }
}

fn gumroad() -> GumroadStorefront {
    GumroadStorefront::new(SECRET, Some(SELLER.into()))
}

#[test]
fn the_documented_sale_ping_is_a_sale() {
    let storefront = gumroad();
    let request = request(SECRET, &sale_ping());
    assert!(std::str::from_utf8(&request.body).unwrap().contains("card%5Bvisual%5D="), "brackets travel encoded");
    storefront.authenticate(&request).unwrap();
    let event = storefront.parse(&request).unwrap();
    assert_eq!(event.kind, EventKind::Sale);
    assert_eq!(event.sale_id.as_deref(), Some("FO8TXN-dbxYaBdahG97Y-Q=="));
    assert_eq!(event.product_ref, "32-nPAicqbLj8B_WswVlMw==");
    assert_eq!(event.variant.as_deref(), Some("Pro"));
    assert_eq!((event.email.as_deref(), event.name.as_deref()), (Some("customer@example.com"), Some("Jane Doe")));
    assert_eq!(event.occurred_at, Some(datetime!(2021-01-05 19:38:56 UTC)));
    assert!(!event.test);
    assert_eq!(event.dedupe_key(), "sale:FO8TXN-dbxYaBdahG97Y-Q==");
}

#[test]
fn wrong_secret_or_seller_is_unauthenticated() {
    let storefront = gumroad();
    let unauthenticated =
        |request: &InboundRequest| matches!(storefront.authenticate(request), Err(StorefrontError::Unauthenticated(_)));
    assert!(unauthenticated(&request("wrong", &sale_ping())));
    assert!(unauthenticated(&request("", &sale_ping())));
    assert!(unauthenticated(&request(&format!("{SECRET}x"), &sale_ping())));
    let mut no_query = request(SECRET, &sale_ping());
    no_query.query.clear();
    assert!(unauthenticated(&no_query));
    assert!(unauthenticated(&request(SECRET, &with(sale_ping(), &[("seller_id", Some("someone-else"))]))));
    // Only a ping naming another seller is refused: one naming none (as every
    // subscription-shaped ping does) is vouched for by the secret.
    gumroad().authenticate(&request(SECRET, &with(sale_ping(), &[("seller_id", None)]))).unwrap();
    assert!(unauthenticated(&request("wrong", &with(sale_ping(), &[("seller_id", None)]))));
    let any_seller = GumroadStorefront::new(SECRET, None);
    any_seller.authenticate(&request(SECRET, &with(sale_ping(), &[("seller_id", Some("other"))]))).unwrap();
    let no_secret_configured = GumroadStorefront::new("", None);
    assert!(matches!(
        no_secret_configured.authenticate(&request("", &sale_ping())),
        Err(StorefrontError::Unauthenticated(_))
    ));
}

#[test]
fn resource_subscriptions_and_ping_flags_give_each_kind() {
    let storefront = gumroad();
    let kind = |changes: &[(&str, Option<&str>)]| {
        storefront.parse(&request(SECRET, &with(sale_ping(), changes))).map(|e| e.kind)
    };
    assert_eq!(kind(&[("resource_name", None)]), Ok(EventKind::Sale), "a classic ping without resource_name");
    assert_eq!(kind(&[("resource_name", Some("refund")), ("refunded", Some("true"))]), Ok(EventKind::Refund));
    assert_eq!(kind(&[("resource_name", None), ("refunded", Some("true"))]), Ok(EventKind::Refund));
    assert_eq!(kind(&[("resource_name", Some("dispute")), ("disputed", Some("true"))]), Ok(EventKind::Dispute));
    assert_eq!(
        kind(&[("resource_name", Some("dispute_won")), ("dispute_won", Some("true"))]),
        Ok(EventKind::DisputeWon)
    );
    assert_eq!(
        kind(&[("is_recurring_charge", Some("true")), ("subscription_id", Some("sub-1"))]),
        Ok(EventKind::RecurringCharge)
    );
    assert!(matches!(kind(&[("is_recurring_charge", Some("true"))]), Err(StorefrontError::Malformed(_))));
    assert!(matches!(kind(&[("resource_name", Some("payout"))]), Err(StorefrontError::Ignored(_))));

    let test = storefront.parse(&request(SECRET, &with(sale_ping(), &[("test", Some("true"))]))).unwrap();
    assert!(test.test);
    let retry = storefront.parse(&request(SECRET, &with(sale_ping(), &[("retry_count", Some("2"))]))).unwrap();
    assert_eq!(retry.dedupe_key(), "sale:FO8TXN-dbxYaBdahG97Y-Q==", "a retry is the same event");
}

/// A cancellation as Gumroad's resource-subscription docs describe it: subscription-shaped.
fn cancellation() -> Vec<(String, String)> {
    [
        ("resource_name", "cancellation"),
        ("subscription_id", "X-2bJvXRHyRLB5jkNKBxbA=="),
        ("product_id", "32-nPAicqbLj8B_WswVlMw=="),
        ("product_name", "Pencil Pro"),
        ("user_id", "3523953790232"),
        ("user_email", "customer@example.com"),
        ("purchase_ids[]", "FO8TXN-dbxYaBdahG97Y-Q=="),
        ("purchase_ids[]", "Wn9hM2nM0wKhQ0Rr6ZE8yA=="),
        ("created_at", "2021-01-05T19:38:56Z"),
        ("charge_occurrence_count", ""),
        ("recurrence", "monthly"),
        ("free_trial_ends_at", ""),
        ("cancelled", "true"),
        ("cancelled_at", "2021-03-05T10:00:00Z"),
        ("cancelled_by_buyer", "true"),
    ]
    .iter()
    .map(|(key, value)| (key.to_string(), value.to_string()))
    .collect()
}

#[test]
fn subscription_events_carry_the_subscription() {
    let storefront = gumroad();
    let cancelled = storefront.parse(&request(SECRET, &cancellation())).unwrap();
    assert_eq!(cancelled.kind, EventKind::Cancellation);
    assert_eq!(cancelled.subscription_id.as_deref(), Some("X-2bJvXRHyRLB5jkNKBxbA=="));
    assert_eq!(cancelled.sale_id, None);
    assert_eq!(cancelled.email.as_deref(), Some("customer@example.com"));
    assert_eq!(cancelled.occurred_at, Some(datetime!(2021-03-05 10:00:00 UTC)));
    assert_eq!(
        cancelled.dedupe_key(),
        format!("cancellation:X-2bJvXRHyRLB5jkNKBxbA==:{}", datetime!(2021-03-05 10:00:00 UTC).unix_timestamp())
    );

    for (resource, time_field) in [
        ("subscription_ended", "ended_at"),
        ("subscription_restarted", "restarted_at"),
        ("subscription_updated", "effective_as_of"),
    ] {
        let fields = with(
            cancellation(),
            &[("resource_name", Some(resource)), ("cancelled_at", None), (time_field, Some("2021-04-01T00:00:00Z"))],
        );
        let event = storefront.parse(&request(SECRET, &fields)).unwrap();
        assert_eq!(event.kind.as_str(), resource);
        assert_eq!(event.occurred_at, Some(datetime!(2021-04-01 00:00:00 UTC)), "{resource}");
    }
    let without_subscription = with(cancellation(), &[("subscription_id", None)]);
    assert!(matches!(storefront.parse(&request(SECRET, &without_subscription)), Err(StorefrontError::Malformed(_))));
}

#[test]
fn malformed_bodies_are_named_not_panicked_on() {
    let storefront = gumroad();
    let parse = |body: Vec<u8>| {
        storefront.parse(&InboundRequest { query: vec![("secret".into(), SECRET.into())], headers: vec![], body })
    };
    let malformed = |result: Result<_, StorefrontError>| matches!(result, Err(StorefrontError::Malformed(_)));
    assert!(malformed(parse(Vec::new())));
    assert!(malformed(parse(br#"{"sale_id": "x", "product_id": "y"}"#.to_vec())), "JSON is not a Gumroad ping");
    assert!(malformed(parse(vec![0xff, 0xfe, 0x00, 0x01])));
    assert!(malformed(parse(vec![b'x'; 1024 * 1024])));
    assert!(malformed(parse(encode(&with(sale_ping(), &[("sale_id", None)])))));
    assert!(malformed(parse(encode(&with(sale_ping(), &[("sale_id", Some(""))])))), "empty values count as missing");
    assert!(malformed(parse(encode(&with(sale_ping(), &[("product_id", None)])))));
}

#[test]
fn any_variant_option_name_is_read() {
    let storefront = gumroad();
    let fields = with(sale_ping(), &[("variants[Tier]", None), ("variants[Version]", Some("Studio"))]);
    assert_eq!(storefront.parse(&request(SECRET, &fields)).unwrap().variant.as_deref(), Some("Studio"));
    let none = with(sale_ping(), &[("variants[Tier]", None)]);
    assert_eq!(storefront.parse(&request(SECRET, &none)).unwrap().variant, None);
}

#[test]
fn a_membership_sale_carries_its_billing_period() {
    let storefront = gumroad();
    let period = |recurrence: Option<&str>| {
        let fields = with(sale_ping(), &[("subscription_id", Some("sub-1")), ("recurrence", recurrence)]);
        storefront.parse(&request(SECRET, &fields)).unwrap().billing_period_days
    };
    assert_eq!(period(Some("monthly")), Some(31));
    assert_eq!(period(Some("quarterly")), Some(92));
    assert_eq!(period(Some("biannually")), Some(183));
    assert_eq!(period(Some("yearly")), Some(366));
    assert_eq!(period(Some("every_two_years")), Some(731));
    assert_eq!(period(Some("fortnightly")), None, "unknown: the tier's duration applies");
    assert_eq!(period(None), None);
    assert_eq!(storefront.parse(&request(SECRET, &sale_ping())).unwrap().billing_period_days, None);
}
