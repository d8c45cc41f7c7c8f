//! The signed-JSON storefront: its authentication, its events, and — the test
//! of the port — the domain's fulfillment rules working for it unchanged.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::executor::block_on;
use serde_json::json;
use tessera_checkout::CheckoutStorefront;
use tessera_domain::catalog::{Catalog, Product, Tier};
use tessera_domain::issuance::IssuanceService;
use tessera_domain::license::{LicenseKey, LicenseState};
use tessera_domain::licensing::LicensingService;
use tessera_domain::mail::{MailSettings, OutboxDeps, OutboxService, RetryPolicy};
use tessera_domain::storefront::{
    ConfiguredStorefront, EventKind, EventStatus, FulfillmentDeps, FulfillmentService, InboundRequest, ProductMapping,
    RefundPolicy, Storefront, StorefrontError,
};
use tessera_memory::{InMemoryMailer, InMemorySigner, InMemoryStore, ManualClock, SeededRandomSource};
use time::macros::datetime;
use time::Duration;

const SECRET: &str = "checkout-shared-secret";

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::at(datetime!(2026-11-23 12:00 UTC)))
}

fn signed(storefront: &CheckoutStorefront, at: i64, body: &serde_json::Value) -> InboundRequest {
    let body = body.to_string().into_bytes();
    InboundRequest { query: vec![], headers: vec![("tessera-signature".into(), storefront.sign(at, &body))], body }
}

fn sale() -> serde_json::Value {
    json!({"event": "sale", "sale_id": "ord_123", "product_id": "datatools-core", "email": "ada@example.com",
           "name": "Ada Lovelace", "variant": "Pro", "occurred_at": "2026-11-23T11:59:00Z"})
}

#[test]
fn only_a_fresh_signature_over_the_exact_body_is_accepted() {
    let clock = clock();
    let now = clock.now_unix();
    let storefront = CheckoutStorefront::new(SECRET, clock.clone());
    storefront.authenticate(&signed(&storefront, now, &sale())).unwrap();
    storefront.authenticate(&signed(&storefront, now - 299, &sale())).unwrap();

    let refused =
        |request: &InboundRequest| matches!(storefront.authenticate(request), Err(StorefrontError::Unauthenticated(_)));
    assert!(refused(&signed(&storefront, now - 301, &sale())), "older than five minutes");
    assert!(refused(&signed(&storefront, now + 301, &sale())), "from the future");
    let mut tampered = signed(&storefront, now, &sale());
    tampered.body = sale().to_string().replace("ord_123", "ord_999").into_bytes();
    assert!(refused(&tampered));
    let stranger = CheckoutStorefront::new("another-secret", clock.clone());
    assert!(refused(&signed(&stranger, now, &sale())));
    let mut unsigned = signed(&storefront, now, &sale());
    unsigned.headers.clear();
    assert!(refused(&unsigned));
    // Far-away timestamps must not wrap around into the window.
    for at in [i64::MIN, i64::MIN + 1, now - (1 << 62) - (1 << 62), i64::MAX] {
        assert!(refused(&signed(&storefront, at, &sale())), "t={at}");
    }
    let mut garbled = signed(&storefront, now, &sale());
    garbled.headers[0].1 = "t=abc,v1=zz".into();
    assert!(refused(&garbled));
}

#[test]
fn events_are_read_and_bad_ones_named() {
    let storefront = CheckoutStorefront::new(SECRET, clock());
    let parse = |body: serde_json::Value| storefront.parse(&signed(&storefront, 0, &body));
    let event = parse(sale()).unwrap();
    assert_eq!(
        (event.kind, event.sale_id.as_deref(), event.variant.as_deref()),
        (EventKind::Sale, Some("ord_123"), Some("Pro"))
    );
    assert_eq!(event.occurred_at, Some(datetime!(2026-11-23 11:59 UTC)));
    let cancelled = parse(json!({"event": "cancellation", "subscription_id": "sub_1", "product_id": "p"})).unwrap();
    assert_eq!((cancelled.kind, cancelled.sale_id), (EventKind::Cancellation, None));
    let charge = json!({"event": "recurring_charge", "sale_id": "ord_2", "subscription_id": "sub_1",
                        "product_id": "p", "period_days": 30});
    let charge = parse(charge).unwrap();
    assert_eq!((charge.kind, charge.billing_period_days), (EventKind::RecurringCharge, Some(30)));
    assert_eq!(event.billing_period_days, None);
    for bad in [
        json!({"event": "sale", "product_id": "p"}),
        json!({"event": "teleport", "sale_id": "x", "product_id": "p"}),
        json!({"event": "sale", "sale_id": "x", "product_id": "p", "surprise": 1}),
        json!({"event": "cancellation", "product_id": "p"}),
        json!({"event": "sale", "sale_id": "x", "product_id": "p", "period_days": -1}),
        json!([1, 2, 3]),
    ] {
        assert!(matches!(parse(bad.clone()), Err(StorefrontError::Malformed(_))), "{bad}");
    }
}

#[test]
fn the_domains_fulfillment_rules_work_for_it_unchanged() {
    block_on(async {
        let clock = clock();
        let store = Arc::new(InMemoryStore::new());
        let tier = |slug: &str| {
            (
                slug.to_owned(),
                Tier {
                    name: None,
                    slug: slug.into(),
                    features: vec![],
                    seats: 1,
                    duration_days: None,
                    app_versions: None,
                    downloads: Default::default(),
                },
            )
        };
        let catalog = Arc::new(
            Catalog::new(vec![Product {
                slug: "datatools".into(),
                name: "DataTools".into(),
                key_prefix: "DT1".into(),
                renew_url: None,
                tiers: BTreeMap::from([tier("core"), tier("pro")]),
            }])
            .unwrap(),
        );
        let random = Arc::new(SeededRandomSource::new(9));
        let issuance = IssuanceService::new(
            store.clone(),
            Arc::new(InMemorySigner),
            clock.clone(),
            random.clone(),
            catalog.clone(),
            "t".to_owned(),
        );
        let catalog_for_mail = catalog;
        let storefront = Arc::new(CheckoutStorefront::new(SECRET, clock.clone()));
        let mapping = ProductMapping {
            product: "datatools".into(),
            tier: "core".into(),
            variant_tiers: BTreeMap::from([("Pro".to_owned(), "pro".to_owned())]),
        };
        let configured = ConfiguredStorefront {
            adapter: storefront.clone(),
            on_refund: RefundPolicy::Revoke,
            products: BTreeMap::from([("datatools-core".to_owned(), mapping)]),
        };
        let outbox = OutboxService::new(OutboxDeps {
            deliveries: store.clone(),
            licenses: store.clone(),
            mailer: Arc::new(InMemoryMailer::new()),
            clock: clock.clone(),
            random: random.clone(),
            catalog: catalog_for_mail,
            settings: MailSettings { from: "Shop <shop@example.com>".into(), base_url: "http://127.0.0.1:8080".into() },
            retry: RetryPolicy::default(),
            links: InMemorySigner::portal_links(clock.clone(), "tessera-test"),
        });
        let fulfillment = FulfillmentService::new(FulfillmentDeps {
            log: store.clone(),
            licenses: store.clone(),
            issuance: issuance.clone(),
            licensing: LicensingService::new(issuance.clone(), outbox),
            clock: clock.clone(),
            random,
            storefronts: vec![configured],
        });
        let now = clock.now_unix();

        let sold = fulfillment.receive("checkout", signed(&storefront, now, &sale())).await.unwrap();
        assert_eq!(sold.outcome.status, EventStatus::Processed);
        let again = fulfillment.receive("checkout", signed(&storefront, now, &sale())).await.unwrap();
        assert_eq!(again.outcome.status, EventStatus::Duplicate);
        let key = LicenseKey::parse(sold.outcome.license_key.as_deref().unwrap()).unwrap();
        let license = issuance.get(&key).await.unwrap();
        assert_eq!((license.tier.as_str(), license.source.as_str()), ("pro", "checkout"));

        clock.advance(Duration::minutes(1));
        let refund = json!({"event": "refund", "sale_id": "ord_123", "product_id": "datatools-core"});
        let refunded = fulfillment.receive("checkout", signed(&storefront, clock.now_unix(), &refund)).await.unwrap();
        assert_eq!(refunded.outcome.status, EventStatus::Processed);
        assert_eq!(issuance.get(&key).await.unwrap().state, LicenseState::Revoked);
    })
}

trait UnixNow {
    fn now_unix(&self) -> i64;
}

impl UnixNow for ManualClock {
    fn now_unix(&self) -> i64 {
        tessera_domain::clock::Clock::now(self).unix_timestamp()
    }
}
