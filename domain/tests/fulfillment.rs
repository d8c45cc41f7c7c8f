//! Fulfillment rules on in-memory fakes, fed Gumroad's real payloads through
//! the Gumroad adapter.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use futures::executor::block_on;
use futures::future::join_all;
use tessera_domain::audit::{Actor, AuditLog};
use tessera_domain::catalog::{Catalog, Product, Tier};
use tessera_domain::clock::Clock;
use tessera_domain::issuance::IssuanceService;
use tessera_domain::license::{LicenseFilter, LicenseKey, LicenseRepository, LicenseState};
use tessera_domain::licensing::LicensingService;
use tessera_domain::mail::{MailSettings, OutboxDeps, OutboxService, RetryPolicy};
use tessera_domain::page::PageRequest;
use tessera_domain::storefront::{
    ConfiguredStorefront, EventFilter, EventKind, EventStatus, FulfillmentDeps, FulfillmentService, InboundRequest,
    ProductMapping, ReceiveError, RefundPolicy, Storefront, StorefrontError, StorefrontEvent, StorefrontEventLog,
};
use tessera_gumroad::GumroadStorefront;
use tessera_memory::{InMemoryMailer, InMemorySigner, InMemoryStore, ManualClock, SeededRandomSource};
use time::macros::datetime;

const SECRET: &str = "post-url-secret";
const PRODUCT_ID: &str = "32-nPAicqbLj8B_WswVlMw==";
const SALE_ID: &str = "FO8TXN-dbxYaBdahG97Y-Q==";

struct World {
    store: Arc<InMemoryStore>,
    issuance: IssuanceService,
    fulfillment: FulfillmentService,
    outbox: OutboxService,
    mailer: Arc<InMemoryMailer>,
    clock: Arc<ManualClock>,
    /// Whether [`StorefrontWithApi`]'s API answers.
    api_up: Arc<AtomicBool>,
}

/// A storefront like Paddle's: its sale events name the buyer only by id,
/// and `complete` asks its API (here a flag) for the email; its plan changes
/// say whether the subscription renews. The body is the event as JSON.
struct StorefrontWithApi {
    api_up: Arc<AtomicBool>,
}

#[async_trait::async_trait]
impl Storefront for StorefrontWithApi {
    fn name(&self) -> &str {
        "with-api"
    }

    fn authenticate(&self, _request: &InboundRequest) -> Result<(), StorefrontError> {
        Ok(())
    }

    fn parse(&self, request: &InboundRequest) -> Result<StorefrontEvent, StorefrontError> {
        let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
        let text = |name: &str| body[name].as_str().map(str::to_owned);
        let kind = match body["kind"].as_str().unwrap() {
            "sale" => EventKind::Sale,
            _ => EventKind::SubscriptionUpdated,
        };
        Ok(StorefrontEvent {
            sale_id: text("sale"),
            subscription_id: text("subscription"),
            product_ref: text("plan").unwrap(),
            billing_period_days: Some(31),
            occurred_at: text("at")
                .map(|at| time::OffsetDateTime::parse(&at, &time::format_description::well_known::Rfc3339).unwrap()),
            renewing: body["renewing"].as_bool(),
            ..StorefrontEvent::new(kind)
        })
    }

    async fn complete(
        &self,
        _request: &InboundRequest,
        mut event: StorefrontEvent,
    ) -> Result<StorefrontEvent, StorefrontError> {
        if event.kind != EventKind::Sale {
            return Ok(event);
        }
        if !self.api_up.load(Ordering::SeqCst) {
            return Err(StorefrontError::Unavailable("the customer lookup answered 503".into()));
        }
        event.email = Some("buyer@example.com".into());
        Ok(event)
    }
}

fn world_with(mapped: bool) -> World {
    world_on(Arc::new(InMemoryStore::new()), mapped)
}

/// A fulfillment service over `store`; `mapped` says whether the Gumroad
/// product is mapped to a Tessera product yet.
fn world_on(store: Arc<InMemoryStore>, mapped: bool) -> World {
    world_of(store, mapped, None)
}

/// As [`world_on`], with Gumroad's `seller_id` configured when `seller` is given.
fn world_of(store: Arc<InMemoryStore>, mapped: bool, seller: Option<&str>) -> World {
    let tier = |slug: &str| {
        let (features, seats) = if slug == "pro" { (vec!["export".to_owned()], 5) } else { (vec![], 2) };
        (
            slug.to_owned(),
            Tier {
                name: None,
                slug: slug.into(),
                features,
                seats,
                duration_days: None,
                app_versions: None,
                downloads: Default::default(),
            },
        )
    };
    let catalog = Arc::new(
        Catalog::new(vec![Product {
            slug: "pencil".into(),
            name: "Pencil".into(),
            key_prefix: "PEN".into(),
            renew_url: None,
            tiers: BTreeMap::from([tier("basic"), tier("pro")]),
        }])
        .unwrap(),
    );
    let clock = Arc::new(ManualClock::at(datetime!(2026-11-23 12:00 UTC)));
    let random = Arc::new(SeededRandomSource::new(3));
    let signer: Arc<InMemorySigner> = Arc::new(InMemorySigner);
    let issuance =
        IssuanceService::new(store.clone(), signer, clock.clone(), random.clone(), catalog.clone(), "t".to_owned());
    let mapping = ProductMapping {
        product: "pencil".into(),
        tier: "basic".into(),
        variant_tiers: BTreeMap::from([("Pro".to_owned(), "pro".to_owned()), ("Basic".to_owned(), "basic".to_owned())]),
    };
    let gumroad = ConfiguredStorefront {
        adapter: Arc::new(GumroadStorefront::new(SECRET, seller.map(str::to_owned))),
        on_refund: RefundPolicy::Revoke,
        products: if mapped { BTreeMap::from([(PRODUCT_ID.to_owned(), mapping)]) } else { BTreeMap::new() },
    };
    let mailer = Arc::new(InMemoryMailer::new());
    let outbox = OutboxService::new(OutboxDeps {
        deliveries: store.clone(),
        licenses: store.clone(),
        mailer: mailer.clone(),
        clock: clock.clone(),
        random: random.clone(),
        catalog,
        settings: MailSettings {
            from: "Shop <shop@example.com>".into(),
            base_url: "https://licenses.example.com".into(),
        },
        retry: RetryPolicy::default(),
        links: InMemorySigner::portal_links(clock.clone(), "tessera-test"),
    });
    let api_up = Arc::new(AtomicBool::new(true));
    let plan =
        |tier: &str| ProductMapping { product: "pencil".into(), tier: tier.into(), variant_tiers: BTreeMap::new() };
    let with_api = ConfiguredStorefront {
        adapter: Arc::new(StorefrontWithApi { api_up: api_up.clone() }),
        on_refund: RefundPolicy::Revoke,
        products: BTreeMap::from([("plan-basic".to_owned(), plan("basic")), ("plan-pro".to_owned(), plan("pro"))]),
    };
    let fulfillment = FulfillmentService::new(FulfillmentDeps {
        log: store.clone(),
        licenses: store.clone(),
        issuance: issuance.clone(),
        licensing: LicensingService::new(issuance.clone(), outbox.clone()),
        clock: clock.clone(),
        random,
        storefronts: vec![gumroad, with_api],
    });
    World { store, issuance, fulfillment, outbox, mailer, clock, api_up }
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

        // One license, one email: ten deliveries queued the email once.
        let run = world.outbox.deliver_due(50).await.unwrap();
        assert_eq!((run.sent, run.failed, run.deferred), (1, 0, 0));
        let sent = world.mailer.sent();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].to, "customer@example.com");
        assert!(sent[0].text_body.contains(license.key.as_str()) && sent[0].text_body.contains(&license.token));
        assert_eq!(sent[0].attachments[0].name, format!("{}.lic", license.key));
        assert_eq!(world.outbox.deliver_due(50).await.unwrap().sent, 0, "nothing is sent twice");
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

fn subscription_ping(changes: &[(&str, &str)]) -> Vec<u8> {
    let mut all =
        vec![("subscription_id", "sub-1"), ("recurrence", "monthly"), ("sale_timestamp", "2026-11-23T12:00:00Z")];
    all.extend_from_slice(changes);
    ping(&all)
}

#[test]
fn recurring_charges_extend_the_subscription_license_once_until_cancelled() {
    block_on(async {
        let world = world_with(true);
        let sold = world.fulfillment.receive("gumroad", delivery(SECRET, subscription_ping(&[]))).await.unwrap();
        assert_eq!(sold.outcome.status, EventStatus::Processed);
        let key = LicenseKey::parse(sold.outcome.license_key.as_deref().unwrap()).unwrap();
        let license = world.issuance.get(&key).await.unwrap();
        assert_eq!(license.kind, tessera_domain::license::LicenseKind::Subscription);
        let first_term = datetime!(2026-11-23 12:00 UTC) + time::Duration::days(31);
        assert_eq!(license.expires_at, Some(first_term), "a month (31 days) from the sale");
        assert_eq!(license.subscription.as_ref().map(|s| (s.id.as_str(), s.renewing)), Some(("sub-1", true)));

        // A month later the first renewal is charged, and Gumroad delivers it three times at once.
        world.clock.advance(time::Duration::days(30));
        let charge = |sale: &'static str, at: &'static str| {
            subscription_ping(&[("sale_id", sale), ("is_recurring_charge", "true"), ("sale_timestamp", at)])
        };
        let receipts = join_all(
            (0..3)
                .map(|_| world.fulfillment.receive("gumroad", delivery(SECRET, charge("C1", "2026-12-23T12:00:00Z")))),
        )
        .await;
        let statuses: Vec<_> = receipts.into_iter().map(|r| r.unwrap().outcome.status).collect();
        assert_eq!(statuses.iter().filter(|s| **s == EventStatus::Processed).count(), 1, "{statuses:?}");
        assert_eq!(statuses.iter().filter(|s| **s == EventStatus::Duplicate).count(), 2, "{statuses:?}");
        let renewed = world.issuance.get(&key).await.unwrap();
        let second_term = datetime!(2026-12-23 12:00 UTC) + time::Duration::days(31);
        assert_eq!(renewed.expires_at, Some(second_term), "paid through a month after the charge");
        assert_ne!(renewed.token, license.token, "the token is re-signed with the new expiry");
        assert_eq!(licenses(&world).await.len(), 1, "a charge never mints");

        // Cancelled: the license runs out its paid term; a later charge does not extend it.
        let cancel = subscription_ping(&[("resource_name", "cancellation"), ("cancelled_at", "2026-12-30T00:00:00Z")]);
        let cancelled = world.fulfillment.receive("gumroad", delivery(SECRET, cancel.clone())).await.unwrap();
        assert_eq!(cancelled.outcome.status, EventStatus::Processed);
        let again = world.fulfillment.receive("gumroad", delivery(SECRET, cancel)).await.unwrap();
        assert_eq!(again.outcome.status, EventStatus::Duplicate);
        let stopped = world.issuance.get(&key).await.unwrap();
        assert_eq!((stopped.state, stopped.expires_at), (LicenseState::Active, Some(second_term)));
        world.clock.set(datetime!(2027-01-23 12:00 UTC));
        let late = world.fulfillment.receive("gumroad", delivery(SECRET, charge("C2", "2027-01-23T12:00:00Z"))).await;
        let late = late.unwrap();
        assert_eq!(late.outcome.status, EventStatus::Ignored, "{:?}", late.outcome);
        assert_eq!(world.issuance.get(&key).await.unwrap().expires_at, Some(second_term));

        // Restarted: charges extend again, and the held-back charge applies on replay.
        let restart = subscription_ping(&[("resource_name", "subscription_restarted")]);
        let restarted = world.fulfillment.receive("gumroad", delivery(SECRET, restart)).await.unwrap();
        assert_eq!(restarted.outcome.status, EventStatus::Processed);
        let replayed = world.fulfillment.replay(late.event_id).await.unwrap();
        assert_eq!(replayed.outcome.status, EventStatus::Processed);
        let resumed = world.issuance.get(&key).await.unwrap();
        assert_eq!(resumed.expires_at, Some(datetime!(2027-01-23 12:00 UTC) + time::Duration::days(31)));

        let ended = subscription_ping(&[("resource_name", "subscription_ended")]);
        world.fulfillment.receive("gumroad", delivery(SECRET, ended)).await.unwrap();
        assert!(!world.issuance.get(&key).await.unwrap().subscription.unwrap().renewing);

        let stranger = ping(&[("subscription_id", "sub-unknown"), ("is_recurring_charge", "true"), ("sale_id", "C9")]);
        let unknown = world.fulfillment.receive("gumroad", delivery(SECRET, stranger)).await.unwrap();
        assert_eq!(unknown.outcome.status, EventStatus::Failed);
        assert!(unknown.outcome.error.unwrap().contains("no license follows"));
    })
}

#[test]
fn a_lost_email_is_queued_again_by_replaying_the_sale() {
    block_on(async {
        let world = world_with(true);
        let sold = world.fulfillment.receive("gumroad", delivery(SECRET, ping(&[]))).await.unwrap();
        let replayed = world.fulfillment.replay(sold.event_id).await.unwrap();
        assert_eq!(replayed.outcome.status, EventStatus::Duplicate);
        let queued = world.outbox.list(&Default::default(), &PageRequest::first(50)).await.unwrap().items;
        assert_eq!(queued.len(), 1, "the replay found the email queued and queued nothing more");
    })
}

/// A subscription ping as Gumroad's `Subscription::PingNotification` builds
/// it: subscription-shaped, without `seller_id`, the subscriber's `user_email`.
fn gumroad_subscription_ping(resource_name: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (key, value) in [
        ("subscription_id", "sub-1"),
        ("product_id", PRODUCT_ID),
        ("product_name", "Pencil Pro"),
        ("user_id", "3523953790232"),
        ("user_email", "customer@example.com"),
        ("purchase_ids[]", SALE_ID),
        ("created_at", "2026-11-23T12:00:00.000Z"),
        ("charge_occurrence_count", ""),
        ("recurrence", "monthly"),
        ("free_trial_ends_at", ""),
        ("resource_name", resource_name),
    ]
    .iter()
    .chain(extra)
    {
        form.append_pair(key, value);
    }
    form.finish().into_bytes()
}

/// With `seller_id` configured, every subscription event of a membership does
/// its job: upgrade now, downgrade at the next charge, cancellation stops
/// renewal, the end ends the license, a restart resumes renewal.
#[test]
fn a_membership_follows_every_gumroad_subscription_event_with_seller_id_configured() {
    block_on(async {
        let world = world_of(Arc::new(InMemoryStore::new()), true, Some("kL0psVL2admJSYRNs-OCMg=="));
        let receive = |body: Vec<u8>| world.fulfillment.receive("gumroad", delivery(SECRET, body));
        let sale = ping(&[("subscription_id", "sub-1"), ("recurrence", "monthly"), ("variants[Tier]", "Basic")]);
        let sold = receive(sale).await.unwrap();
        let key = LicenseKey::parse(sold.outcome.license_key.as_deref().unwrap()).unwrap();
        let basic = world.issuance.get(&key).await.unwrap();
        assert_eq!((basic.tier.as_str(), basic.seats), ("basic", 2));
        let paid_through = basic.expires_at.unwrap();

        // Upgrade, effective now: the license moves to pro and is re-signed; its term stays.
        let upgrade = gumroad_subscription_ping(
            "subscription_updated",
            &[
                ("type", "upgrade"),
                ("effective_as_of", "2026-11-23T12:00:00.000Z"),
                ("old_plan[tier][id]", "t-basic"),
                ("old_plan[tier][name]", "Basic"),
                ("new_plan[tier][id]", "t-pro"),
                ("new_plan[tier][name]", "Pro"),
                ("new_plan[recurrence]", "monthly"),
                ("new_plan[quantity]", "1"),
            ],
        );
        let upgraded = receive(upgrade.clone()).await.unwrap();
        assert_eq!(upgraded.outcome.status, EventStatus::Processed, "{:?}", upgraded.outcome);
        assert!(upgraded.outcome_recorded);
        let pro = world.issuance.get(&key).await.unwrap();
        assert_eq!((pro.tier.as_str(), pro.seats, pro.features.clone()), ("pro", 5, vec!["export".to_owned()]));
        assert_eq!(pro.expires_at, Some(paid_through));
        assert_ne!(pro.token, basic.token, "re-signed with the new tier");
        assert_eq!(receive(upgrade).await.unwrap().outcome.status, EventStatus::Duplicate);

        // Downgrade at the end of the paid period: nothing changes yet ...
        let downgrade = gumroad_subscription_ping(
            "subscription_updated",
            &[
                ("type", "downgrade"),
                ("effective_as_of", "2026-12-24T12:00:00.000Z"),
                ("new_plan[tier][name]", "Basic"),
                ("new_plan[recurrence]", "monthly"),
            ],
        );
        let deferred = receive(downgrade).await.unwrap();
        assert_eq!(deferred.outcome.status, EventStatus::Ignored);
        assert!(deferred.outcome.error.as_deref().unwrap().contains("first charge after that"));
        assert_eq!(world.issuance.get(&key).await.unwrap().tier, "pro");
        // ... and the charge of the new plan moves the license and extends it.
        world.clock.set(datetime!(2026-12-24 12:00 UTC));
        let charge = ping(&[
            ("subscription_id", "sub-1"),
            ("recurrence", "monthly"),
            ("is_recurring_charge", "true"),
            ("sale_id", "C1"),
            ("sale_timestamp", "2026-12-24T12:00:00Z"),
            ("variants[Tier]", "Basic"),
        ]);
        assert_eq!(receive(charge).await.unwrap().outcome.status, EventStatus::Processed);
        let charged = world.issuance.get(&key).await.unwrap();
        assert_eq!((charged.tier.as_str(), charged.seats), ("basic", 2));
        assert_eq!(charged.expires_at, Some(datetime!(2026-12-24 12:00 UTC) + time::Duration::days(31)));

        // Cancelled after failed payments: no further renewal, still valid for now.
        let cancel = gumroad_subscription_ping(
            "cancellation",
            &[
                ("cancelled", "true"),
                ("cancelled_at", "2027-01-25T12:00:00.000Z"),
                ("cancelled_due_to_payment_failures", "true"),
            ],
        );
        assert_eq!(receive(cancel).await.unwrap().outcome.status, EventStatus::Processed);
        let cancelled = world.issuance.get(&key).await.unwrap();
        assert!(!cancelled.subscription.as_ref().unwrap().renewing);
        assert_eq!(cancelled.expires_at, charged.expires_at);

        // Ended (failed_payment) before the paid term ran out: the license ends then.
        let ended_at = datetime!(2027-01-20 00:00 UTC);
        let end = gumroad_subscription_ping(
            "subscription_ended",
            &[("ended_at", "2027-01-20T00:00:00.000Z"), ("ended_reason", "failed_payment")],
        );
        world.clock.set(datetime!(2027-01-21 00:00 UTC));
        assert_eq!(receive(end.clone()).await.unwrap().outcome.status, EventStatus::Processed);
        let over = world.issuance.get(&key).await.unwrap();
        assert_eq!(over.expires_at, Some(ended_at));
        assert_eq!(over.status_at(world.clock.now()), tessera_domain::license::LicenseStatus::Expired);
        assert_ne!(over.token, cancelled.token, "re-signed with the earlier expiry");
        assert_eq!(receive(end).await.unwrap().outcome.status, EventStatus::Duplicate);

        // Restarted: renewal resumes, and the next charge brings the license back.
        let restart =
            gumroad_subscription_ping("subscription_restarted", &[("restarted_at", "2027-01-21T00:00:00.000Z")]);
        assert_eq!(receive(restart).await.unwrap().outcome.status, EventStatus::Processed);
        assert!(world.issuance.get(&key).await.unwrap().subscription.unwrap().renewing);
        let charge = ping(&[
            ("subscription_id", "sub-1"),
            ("recurrence", "monthly"),
            ("is_recurring_charge", "true"),
            ("sale_id", "C2"),
            ("sale_timestamp", "2027-01-21T00:00:00Z"),
        ]);
        assert_eq!(receive(charge).await.unwrap().outcome.status, EventStatus::Processed);
        let back = world.issuance.get(&key).await.unwrap();
        assert_eq!(back.status_at(world.clock.now()), tessera_domain::license::LicenseStatus::Active);
        assert_eq!(back.expires_at, Some(datetime!(2027-01-21 00:00 UTC) + time::Duration::days(31)));

        // Every one of them is recorded, none failed; the audit log names the reasons.
        let recorded = events(&world).await;
        assert!(recorded.iter().all(|event| event.status != EventStatus::Failed), "{recorded:?}");
        let audit = world.store.list_audit(&Default::default(), &PageRequest::first(100)).await.unwrap();
        let actions: Vec<&str> = audit.items.iter().map(|event| event.action.as_str()).collect();
        for action in ["license.tier_changed", "subscription.stopped", "subscription.ended", "subscription.resumed"] {
            assert!(actions.contains(&action), "{action} in {actions:?}");
        }
        let stopped = audit.items.iter().find(|event| event.action == "subscription.stopped").unwrap();
        assert_eq!(stopped.details["reason"], "cancelled after failed payments");
    })
}

/// An event log whose store refuses the first two outcomes written (as
/// Postgres refuses a value longer than its column): a sale's, stored with
/// its license, then the failure that reports it.
struct RefusesFirstOutcome {
    inner: Arc<InMemoryStore>,
    refused: std::sync::atomic::AtomicU32,
}

impl RefusesFirstOutcome {
    fn refuses(&self) -> bool {
        self.refused.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 2
    }
}

fn too_long() -> tessera_domain::repository::RepositoryError {
    tessera_domain::repository::RepositoryError::unexpected("value too long for type character varying(300)")
}

#[async_trait::async_trait]
impl StorefrontEventLog for RefusesFirstOutcome {
    async fn record(
        &self,
        event: &tessera_domain::storefront::RecordedEvent,
    ) -> Result<(), tessera_domain::repository::RepositoryError> {
        self.inner.record(event).await
    }

    async fn finish(
        &self,
        id: uuid::Uuid,
        outcome: &tessera_domain::storefront::EventOutcome,
        audit: &tessera_domain::audit::AuditEvent,
    ) -> Result<bool, tessera_domain::repository::RepositoryError> {
        if self.refuses() {
            return Err(too_long());
        }
        self.inner.finish(id, outcome, audit).await
    }

    async fn create_license_and_finish(
        &self,
        sale: &tessera_domain::storefront::FinishedSale<'_>,
    ) -> Result<(), tessera_domain::license::CreateLicenseError> {
        if self.refuses() {
            return Err(too_long().into());
        }
        self.inner.create_license_and_finish(sale).await
    }

    async fn find_event(
        &self,
        id: uuid::Uuid,
    ) -> Result<Option<tessera_domain::storefront::RecordedEvent>, tessera_domain::repository::RepositoryError> {
        self.inner.find_event(id).await
    }

    async fn list_events(
        &self,
        filter: &EventFilter,
        page: &PageRequest,
    ) -> Result<
        tessera_domain::page::Page<tessera_domain::storefront::RecordedEvent>,
        tessera_domain::repository::RepositoryError,
    > {
        self.inner.list_events(filter, page).await
    }
}

/// An authenticated event whose outcome cannot be written is still recorded
/// `failed`, with the reason, never left `received` without one.
#[test]
fn an_outcome_the_store_refuses_is_recorded_as_a_failure_with_its_reason() {
    block_on(async {
        let world = world_with(true);
        let log = Arc::new(RefusesFirstOutcome { inner: world.store.clone(), refused: Default::default() });
        let mapping = ProductMapping { product: "pencil".into(), tier: "basic".into(), variant_tiers: BTreeMap::new() };
        let fulfillment = FulfillmentService::new(FulfillmentDeps {
            log,
            licenses: world.store.clone(),
            issuance: world.issuance.clone(),
            licensing: LicensingService::new(world.issuance.clone(), world.outbox.clone()),
            clock: world.clock.clone(),
            random: Arc::new(SeededRandomSource::new(9)),
            storefronts: vec![ConfiguredStorefront {
                adapter: Arc::new(GumroadStorefront::new(SECRET, None)),
                on_refund: RefundPolicy::Revoke,
                products: BTreeMap::from([(PRODUCT_ID.to_owned(), mapping)]),
            }],
        });
        let receipt = fulfillment.receive("gumroad", delivery(SECRET, ping(&[]))).await.unwrap();
        assert!(receipt.outcome_recorded);
        assert_eq!(receipt.outcome.status, EventStatus::Failed);
        let error = receipt.outcome.error.clone().unwrap();
        assert!(error.contains("could not be recorded") && error.contains("replay"), "{error}");
        let stored = world.store.find_event(receipt.event_id).await.unwrap().unwrap();
        assert_eq!((stored.status, stored.error), (EventStatus::Failed, Some(error)));
        // The license went with its refused outcome, so nothing was minted; a
        // replay mints it and records that.
        let filter = tessera_domain::license::LicenseFilter::all(world.clock.now());
        let minted = world.store.list(&filter, &PageRequest::first(10)).await.unwrap().items;
        assert!(minted.is_empty(), "{minted:?}");
        let replayed = fulfillment.replay(receipt.event_id).await.unwrap();
        assert_eq!(replayed.outcome.status, EventStatus::Processed);
        assert!(replayed.outcome_recorded);
    })
}

/// A storefront id longer than any key built from it, or holding a NUL, is
/// refused by the domain the same way on every store: failed, with a reason
/// that does not echo it.
#[test]
fn unusable_storefront_ids_fail_with_a_printable_reason() {
    block_on(async {
        let world = world_with(true);
        for sale_id in ["s".repeat(300), "sale\u{0}id".to_owned()] {
            let receipt =
                world.fulfillment.receive("gumroad", delivery(SECRET, ping(&[("sale_id", &sale_id)]))).await.unwrap();
            assert_eq!(receipt.outcome.status, EventStatus::Failed);
            let error = receipt.outcome.error.unwrap();
            assert!(error.contains("sale_id") && !error.contains('\u{0}') && error.len() < 200, "{error}");
        }
        assert!(licenses(&world).await.is_empty());
    })
}

fn api_event(fields: serde_json::Value) -> InboundRequest {
    InboundRequest { query: vec![], headers: vec![], body: serde_json::to_vec(&fields).unwrap() }
}

#[test]
fn a_sale_whose_lookup_fails_is_kept_failed_and_replays_into_its_license() {
    block_on(async {
        let world = world_with(true);
        world.api_up.store(false, Ordering::SeqCst);
        let sale = serde_json::json!({"kind": "sale", "sale": "txn-1", "subscription": "sub-9", "plan": "plan-basic"});
        let down = world.fulfillment.receive("with-api", api_event(sale.clone())).await.unwrap();
        assert_eq!(down.outcome.status, EventStatus::Failed);
        assert!(down.outcome.error.as_deref().unwrap().contains("503"), "{:?}", down.outcome.error);
        assert!(licenses(&world).await.is_empty(), "nothing is minted without the buyer's email");
        let failed = world
            .store
            .list_events(
                &EventFilter { status: Some(EventStatus::Failed), ..EventFilter::default() },
                &PageRequest::first(10),
            )
            .await
            .unwrap();
        assert_eq!(failed.items.len(), 1, "listed for the operator");

        world.api_up.store(true, Ordering::SeqCst);
        let replayed = world.fulfillment.replay(down.event_id).await.unwrap();
        assert_eq!(replayed.outcome.status, EventStatus::Processed, "{:?}", replayed.outcome);
        let minted = licenses(&world).await;
        assert_eq!((minted.len(), minted[0].email.as_str()), (1, "buyer@example.com"));
        // The same sale delivered again, with the API up: still one license.
        let again = world.fulfillment.receive("with-api", api_event(sale)).await.unwrap();
        assert_eq!(again.outcome.status, EventStatus::Duplicate);
    })
}

#[test]
fn a_plan_change_that_says_whether_it_renews_moves_the_tier_and_renewal_together() {
    block_on(async {
        let world = world_with(true);
        let sale = serde_json::json!({"kind": "sale", "sale": "txn-1", "subscription": "sub-9", "plan": "plan-basic"});
        let sold = world.fulfillment.receive("with-api", api_event(sale)).await.unwrap();
        let key = LicenseKey::parse(sold.outcome.license_key.as_deref().unwrap()).unwrap();
        let update = |plan: &str, renewing: bool, at: &str| {
            api_event(
                serde_json::json!({"kind": "update", "subscription": "sub-9", "plan": plan, "renewing": renewing, "at": at}),
            )
        };
        let state = |license: tessera_domain::license::License| (license.tier, license.subscription.unwrap().renewing);

        // Same plan, a cancellation scheduled: renewal stops, the tier stays.
        let cancel =
            world.fulfillment.receive("with-api", update("plan-basic", false, "2026-11-23T11:00:00Z")).await.unwrap();
        assert_eq!(cancel.outcome.status, EventStatus::Processed);
        assert_eq!(state(world.issuance.get(&key).await.unwrap()), ("basic".to_owned(), false));
        // Upgraded, and the cancellation undone, in one update.
        let upgrade =
            world.fulfillment.receive("with-api", update("plan-pro", true, "2026-11-23T11:30:00Z")).await.unwrap();
        assert_eq!(upgrade.outcome.status, EventStatus::Processed);
        assert_eq!(state(world.issuance.get(&key).await.unwrap()), ("pro".to_owned(), true));
        // An update that changes neither is a duplicate.
        let same =
            world.fulfillment.receive("with-api", update("plan-pro", true, "2026-11-23T11:45:00Z")).await.unwrap();
        assert_eq!(same.outcome.status, EventStatus::Duplicate);
    })
}

#[test]
fn a_refunded_renewal_revokes_the_license_that_follows_its_subscription() {
    block_on(async {
        let world = world_with(true);
        let sold = world.fulfillment.receive("gumroad", delivery(SECRET, subscription_ping(&[]))).await.unwrap();
        let key = LicenseKey::parse(sold.outcome.license_key.as_deref().unwrap()).unwrap();
        world.clock.advance(time::Duration::days(30));
        let charge = subscription_ping(&[("sale_id", "C1"), ("is_recurring_charge", "true")]);
        assert_eq!(
            world.fulfillment.receive("gumroad", delivery(SECRET, charge)).await.unwrap().outcome.status,
            EventStatus::Processed
        );

        // The renewal's payment is refunded: it minted nothing, its subscription's license goes.
        let refund = subscription_ping(&[("sale_id", "C1"), ("is_recurring_charge", "true"), ("refunded", "true")]);
        let refunded = world.fulfillment.receive("gumroad", delivery(SECRET, refund)).await.unwrap();
        assert_eq!(refunded.outcome.status, EventStatus::Processed, "{:?}", refunded.outcome);
        assert_eq!(world.issuance.get(&key).await.unwrap().state, LicenseState::Revoked);

        // A refund naming neither a minted sale nor a known subscription still fails, named.
        let stranger = ping(&[("sale_id", "unknown-sale"), ("refunded", "true")]);
        let failed = world.fulfillment.receive("gumroad", delivery(SECRET, stranger)).await.unwrap();
        assert_eq!(failed.outcome.status, EventStatus::Failed);
        assert!(failed.outcome.error.unwrap().contains("no license was minted for gumroad sale `unknown-sale`"));
    })
}
