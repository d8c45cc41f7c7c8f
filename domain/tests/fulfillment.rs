//! Fulfillment rules on in-memory fakes, fed Gumroad's real payloads through
//! the Gumroad adapter.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::executor::block_on;
use futures::future::join_all;
use tessera_domain::audit::{Actor, AuditLog};
use tessera_domain::catalog::{Catalog, Product, Tier};
use tessera_domain::issuance::IssuanceService;
use tessera_domain::license::{LicenseFilter, LicenseKey, LicenseRepository, LicenseState};
use tessera_domain::page::PageRequest;
use tessera_domain::storefront::{
    ConfiguredStorefront, EventFilter, EventStatus, FulfillmentService, InboundRequest, ProductMapping, ReceiveError,
    RefundPolicy, StorefrontEventLog,
};
use tessera_gumroad::GumroadStorefront;
use tessera_memory::{InMemoryLicenseRepository, InMemorySigner, ManualClock, SeededRandomSource};
use time::macros::datetime;

const SECRET: &str = "post-url-secret";
const PRODUCT_ID: &str = "32-nPAicqbLj8B_WswVlMw==";
const SALE_ID: &str = "FO8TXN-dbxYaBdahG97Y-Q==";

struct World {
    store: Arc<InMemoryLicenseRepository>,
    issuance: IssuanceService,
    fulfillment: FulfillmentService,
}

fn world_with(mapped: bool) -> World {
    world_on(Arc::new(InMemoryLicenseRepository::new()), mapped)
}

/// A fulfillment service over `store`; `mapped` says whether the Gumroad
/// product is mapped to a Tessera product yet.
fn world_on(store: Arc<InMemoryLicenseRepository>, mapped: bool) -> World {
    let tier = |slug: &str| {
        (
            slug.to_owned(),
            Tier { slug: slug.into(), features: vec![], seats: 2, duration_days: None, app_versions: None },
        )
    };
    let catalog = Arc::new(
        Catalog::new(vec![Product {
            slug: "pencil".into(),
            name: "Pencil".into(),
            key_prefix: "PEN".into(),
            tiers: BTreeMap::from([tier("basic"), tier("pro")]),
        }])
        .unwrap(),
    );
    let clock = Arc::new(ManualClock::at(datetime!(2026-11-23 12:00 UTC)));
    let random = Arc::new(SeededRandomSource::new(3));
    let signer: Arc<InMemorySigner> = Arc::new(InMemorySigner);
    let issuance = IssuanceService::new(store.clone(), signer, clock.clone(), random.clone(), catalog, "t".to_owned());
    let mapping = ProductMapping {
        product: "pencil".into(),
        tier: "basic".into(),
        variant_tiers: BTreeMap::from([("Pro".to_owned(), "pro".to_owned())]),
    };
    let gumroad = ConfiguredStorefront {
        adapter: Arc::new(GumroadStorefront::new(SECRET, None)),
        on_refund: RefundPolicy::Revoke,
        products: if mapped { BTreeMap::from([(PRODUCT_ID.to_owned(), mapping)]) } else { BTreeMap::new() },
    };
    let fulfillment =
        FulfillmentService::new(store.clone(), store.clone(), issuance.clone(), clock, random, vec![gumroad]);
    World { store, issuance, fulfillment }
}

fn ping(changes: &[(&str, &str)]) -> Vec<u8> {
    let mut fields: Vec<(String, String)> = [
        ("seller_id", "kL0psVL2admJSYRNs-OCMg=="),
        ("product_id", PRODUCT_ID),
        ("product_name", "Pencil Pro"),
        ("email", "customer@example.com"),
        ("sale_id", SALE_ID),
        ("sale_timestamp", "2021-01-05T19:38:56Z"),
        ("full_name", "Jane Doe"),
        ("variants[Tier]", "Pro"),
        ("resource_name", "sale"),
        ("refunded", "false"),
    ]
    .iter()
    .map(|(key, value)| (key.to_string(), value.to_string()))
    .collect();
    for (key, value) in changes {
        fields.retain(|(existing, _)| existing != key);
        fields.push((key.to_string(), value.to_string()));
    }
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (key, value) in &fields {
        form.append_pair(key, value);
    }
    form.finish().into_bytes()
}

fn delivery(secret: &str, body: Vec<u8>) -> InboundRequest {
    InboundRequest { query: vec![("secret".into(), secret.into())], headers: vec![], body }
}

async fn licenses(world: &World) -> Vec<tessera_domain::license::License> {
    let all = LicenseFilter::all(datetime!(2026-11-23 12:00 UTC));
    world.store.list(&all, &PageRequest::first(500)).await.unwrap().items
}

async fn events(world: &World) -> Vec<tessera_domain::storefront::RecordedEvent> {
    world.store.list_events(&EventFilter::default(), &PageRequest::first(500)).await.unwrap().items
}

#[test]
fn a_sale_delivered_ten_times_at_once_mints_one_license() {
    block_on(async {
        let world = world_with(true);
        let deliveries = (0..10).map(|_| world.fulfillment.receive("gumroad", delivery(SECRET, ping(&[]))));
        let receipts: Vec<_> = join_all(deliveries).await.into_iter().map(Result::unwrap).collect();
        let statuses: Vec<_> = receipts.iter().map(|receipt| receipt.outcome.status).collect();
        assert_eq!(statuses.iter().filter(|status| **status == EventStatus::Processed).count(), 1, "{statuses:?}");
        assert_eq!(statuses.iter().filter(|status| **status == EventStatus::Duplicate).count(), 9, "{statuses:?}");
        assert!(receipts.iter().all(|receipt| receipt.outcome_recorded));

        let minted = licenses(&world).await;
        assert_eq!(minted.len(), 1);
        let license = &minted[0];
        assert_eq!((license.product.as_str(), license.tier.as_str()), ("pencil", "pro"), "variant Pro → tier pro");
        assert_eq!((license.source.as_str(), license.source_ref.as_deref()), ("gumroad", Some(SALE_ID)));
        assert_eq!((license.name.as_str(), license.email.as_str()), ("Jane Doe", "customer@example.com"));
        assert!(receipts.iter().all(|receipt| receipt.outcome.license_key.as_deref() == Some(license.key.as_str())));

        let recorded = events(&world).await;
        assert_eq!(recorded.len(), 10, "every delivery is recorded");
        assert!(
            recorded.iter().all(|event| event.query.is_empty() && !event.body.is_empty()),
            "the secret is never stored"
        );
        assert!(recorded.iter().all(|event| event.dedupe_key.as_deref() == Some(&*format!("sale:{SALE_ID}"))));
    })
}

#[test]
fn a_wrong_secret_records_nothing() {
    block_on(async {
        let world = world_with(true);
        let refused = world.fulfillment.receive("gumroad", delivery("wrong", ping(&[]))).await.unwrap_err();
        assert!(matches!(refused, ReceiveError::Unauthenticated(_)), "{refused:?}");
        let unknown = world.fulfillment.receive("shopify", delivery(SECRET, ping(&[]))).await.unwrap_err();
        assert!(matches!(unknown, ReceiveError::UnknownStorefront(_)));
        assert!(events(&world).await.is_empty());
        assert!(licenses(&world).await.is_empty());
    })
}

#[test]
fn an_unmapped_product_fails_and_replays_once_mapped() {
    block_on(async {
        let unmapped = world_with(false);
        let receipt = unmapped.fulfillment.receive("gumroad", delivery(SECRET, ping(&[]))).await.unwrap();
        assert_eq!(receipt.outcome.status, EventStatus::Failed);
        assert!(receipt.outcome.error.as_deref().unwrap().contains("no product mapping"), "{:?}", receipt.outcome);
        assert!(licenses(&unmapped).await.is_empty());

        // The operator adds the mapping (a restart with new configuration) and replays.
        let fixed = world_on(unmapped.store.clone(), true);
        let replayed = fixed.fulfillment.replay(receipt.event_id).await.unwrap();
        assert_eq!(replayed.outcome.status, EventStatus::Processed);
        let again = fixed.fulfillment.replay(receipt.event_id).await.unwrap();
        assert_eq!(again.outcome.status, EventStatus::Duplicate, "a second replay mints nothing");
        assert_eq!(licenses(&fixed).await.len(), 1);
        let event = fixed.store.find_event(receipt.event_id).await.unwrap().unwrap();
        assert_eq!((event.status, event.attempts), (EventStatus::Duplicate, 3));
        assert!(fixed.fulfillment.replay(uuid::Uuid::nil()).await.is_err());
    })
}

#[test]
fn refunds_revoke_and_disputes_suspend_until_won() {
    block_on(async {
        let world = world_with(true);
        let sold = world.fulfillment.receive("gumroad", delivery(SECRET, ping(&[]))).await.unwrap();
        let key = LicenseKey::parse(sold.outcome.license_key.as_deref().unwrap()).unwrap();
        let state = || async { world.issuance.get(&key).await.unwrap().state };

        let dispute = ping(&[("resource_name", "dispute"), ("disputed", "true")]);
        assert_eq!(
            world.fulfillment.receive("gumroad", delivery(SECRET, dispute)).await.unwrap().outcome.status,
            EventStatus::Processed
        );
        assert_eq!(state().await, LicenseState::Suspended);
        let won = ping(&[("resource_name", "dispute_won"), ("dispute_won", "true")]);
        world.fulfillment.receive("gumroad", delivery(SECRET, won)).await.unwrap();
        assert_eq!(state().await, LicenseState::Active);

        let refund = || ping(&[("resource_name", "refund"), ("refunded", "true")]);
        let refunded = world.fulfillment.receive("gumroad", delivery(SECRET, refund())).await.unwrap();
        assert_eq!(refunded.outcome.status, EventStatus::Processed);
        let license = world.issuance.get(&key).await.unwrap();
        assert_eq!(
            (license.state, license.revoke_reason.as_deref()),
            (LicenseState::Revoked, Some("refunded on gumroad"))
        );
        let again = world.fulfillment.receive("gumroad", delivery(SECRET, refund())).await.unwrap();
        assert_eq!(again.outcome.status, EventStatus::Duplicate);

        let trail = world.store.list_audit(&Default::default(), &PageRequest::first(50)).await.unwrap().items;
        assert!(trail.iter().all(|event| event.actor == Actor::Storefront("gumroad".into())), "{trail:?}");

        let stray = ping(&[("resource_name", "refund"), ("refunded", "true"), ("sale_id", "never-sold")]);
        let failed = world.fulfillment.receive("gumroad", delivery(SECRET, stray)).await.unwrap();
        assert_eq!(failed.outcome.status, EventStatus::Failed);
        assert!(failed.outcome.error.unwrap().contains("no license was minted"));
    })
}

#[test]
fn bad_deliveries_become_failed_events_never_licenses() {
    block_on(async {
        let world = world_with(true);
        for body in [Vec::new(), b"{\"sale_id\": 1}".to_vec(), vec![b'x'; 1024 * 1024], ping(&[("sale_id", "")])] {
            let receipt = world.fulfillment.receive("gumroad", delivery(SECRET, body)).await.unwrap();
            assert_eq!(receipt.outcome.status, EventStatus::Failed, "{:?}", receipt.outcome);
        }
        let no_email = world
            .fulfillment
            .receive("gumroad", delivery(SECRET, ping(&[("email", ""), ("sale_id", "S2")])))
            .await
            .unwrap();
        assert_eq!(no_email.outcome.status, EventStatus::Failed);
        assert!(licenses(&world).await.is_empty());
        assert_eq!(events(&world).await.len(), 5);
    })
}

#[test]
fn test_pings_make_tagged_licenses_and_a_down_store_is_not_recorded() {
    block_on(async {
        let world = world_with(true);
        let test = world.fulfillment.receive("gumroad", delivery(SECRET, ping(&[("test", "true")]))).await.unwrap();
        assert_eq!(test.outcome.status, EventStatus::Processed);
        let license = &licenses(&world).await[0];
        assert!(license.notes.as_deref().unwrap().contains("test purchase"));

        world.store.set_unavailable(true);
        let down =
            world.fulfillment.receive("gumroad", delivery(SECRET, ping(&[("sale_id", "S3")]))).await.unwrap_err();
        assert!(matches!(down, ReceiveError::NotRecorded(_)), "{down:?}");
        world.store.set_unavailable(false);
        let retried = world.fulfillment.receive("gumroad", delivery(SECRET, ping(&[("sale_id", "S3")]))).await.unwrap();
        assert_eq!(retried.outcome.status, EventStatus::Processed, "the storefront's retry is processed once");
    })
}
