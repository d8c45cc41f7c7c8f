//! The portal use cases on in-memory fakes: who gets an email, what the link
//! opens, and freeing machines (which counts toward the churn limit).

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::executor::block_on;
use tessera_domain::activation::{Activate, ActivateError, ActivationDeps, ActivationPolicy, ActivationService};
use tessera_domain::audit::Actor;
use tessera_domain::catalog::{Catalog, Product, Tier};
use tessera_domain::issuance::{IssuanceService, MintLicense};
use tessera_domain::license::{CustomerName, EmailAddress, Fingerprint, License, LicenseStatus, MachineName};
use tessera_domain::mail::{
    DeliveryFilter, DeliveryKind, DeliveryStatus, MailSettings, OutboxDeps, OutboxService, RetryPolicy,
};
use tessera_domain::page::PageRequest;
use tessera_domain::portal::{OpenPortalError, PortalDeactivateError, PortalLinkError, PortalService};
use tessera_memory::{InMemoryMailer, InMemorySigner, InMemoryStore, ManualClock, SeededRandomSource};
use time::macros::datetime;
use time::Duration;

struct World {
    issuance: IssuanceService,
    activation: ActivationService,
    outbox: OutboxService,
    portal: PortalService,
    mailer: Arc<InMemoryMailer>,
    clock: Arc<ManualClock>,
}

fn world() -> World {
    let tier = |slug: &str, duration_days| Tier {
        name: None,
        slug: slug.into(),
        features: vec![],
        seats: 2,
        duration_days,
        app_versions: None,
        downloads: Default::default(),
    };
    let catalog = Arc::new(
        Catalog::new(vec![Product {
            slug: "app".into(),
            name: "App".into(),
            key_prefix: "APP".into(),
            renew_url: Some("https://shop.example.com/app".into()),
            tiers: BTreeMap::from([("pro".into(), tier("pro", None)), ("month".into(), tier("month", Some(20)))]),
        }])
        .unwrap(),
    );
    let store = Arc::new(InMemoryStore::new());
    let clock = Arc::new(ManualClock::at(datetime!(2026-11-23 12:00 UTC)));
    let random = Arc::new(SeededRandomSource::new(11));
    let signer: Arc<InMemorySigner> = Arc::new(InMemorySigner);
    let links = InMemorySigner::portal_links(clock.clone(), "test");
    let issuance =
        IssuanceService::new(store.clone(), signer.clone(), clock.clone(), random.clone(), catalog.clone(), "test");
    let policy = ActivationPolicy { lease_days: 30, grace_days: 7, churn_per_day: 2 };
    let activation = ActivationService::new(ActivationDeps {
        activations: store.clone(),
        signer: signer.clone(),
        verifier: signer,
        clock: clock.clone(),
        random: random.clone(),
        catalog: catalog.clone(),
        releases: store.clone(),
        issuer: "test".into(),
        policy,
    });
    let mailer = Arc::new(InMemoryMailer::new());
    let settings = MailSettings { from: "Shop <shop@example.com>".into(), base_url: "https://lic.example.com".into() };
    let outbox = OutboxService::new(OutboxDeps {
        deliveries: store.clone(),
        licenses: store.clone(),
        mailer: mailer.clone(),
        clock: clock.clone(),
        random,
        catalog: catalog.clone(),
        settings,
        retry: RetryPolicy::default(),
        links: links.clone(),
    });
    let portal = PortalService::new(store, activation.clone(), outbox.clone(), links, catalog, clock.clone());
    World { issuance, activation, outbox, portal, mailer, clock }
}

fn email(text: &str) -> EmailAddress {
    EmailAddress::parse(text).unwrap()
}

async fn mint(world: &World, tier: &str, to: &str) -> License {
    let request = MintLicense::new("app", tier, CustomerName::parse("Ada").unwrap(), email(to));
    world.issuance.mint(request, Actor::Admin).await.unwrap().license
}

fn on(license: &License, machine: &str) -> Activate {
    Activate {
        key: license.key.to_string(),
        fingerprint: Fingerprint::parse(machine).unwrap(),
        machine_name: MachineName::parse(&format!("{machine} box")).unwrap(),
        platform: None,
        app_version: None,
        name: None,
        email: None,
    }
}

async fn portal_deliveries(world: &World) -> Vec<tessera_domain::mail::Delivery> {
    let page = world.outbox.list(&DeliveryFilter::default(), &PageRequest::first(50)).await.unwrap();
    page.items.into_iter().filter(|delivery| delivery.kind == DeliveryKind::Portal).collect()
}

/// Sends what is due and returns the link token of the last email.
async fn link_from_email(world: &World) -> String {
    world.outbox.deliver_due(10).await.unwrap();
    let body = world.mailer.sent().last().unwrap().text_body.clone();
    let start = body.find("token=").unwrap() + "token=".len();
    body[start..].split_whitespace().next().unwrap().to_owned()
}

#[test]
fn only_addresses_with_licenses_that_are_not_revoked_get_an_email() {
    block_on(async {
        let world = world();
        let kept = mint(&world, "pro", "ada@example.com").await;
        let revoked = mint(&world, "pro", "bob@example.com").await;
        world.issuance.revoke(&revoked.key, "refund", Actor::Admin).await.unwrap();

        assert!(world.portal.request_licenses(&email("ada@example.com")).await.unwrap());
        assert!(!world.portal.request_licenses(&email("bob@example.com")).await.unwrap());
        assert!(!world.portal.request_licenses(&email("nobody@example.com")).await.unwrap());
        let queued = portal_deliveries(&world).await;
        assert_eq!(queued.len(), 1);
        assert_eq!((queued[0].to.as_str(), queued[0].license_key.as_ref()), ("ada@example.com", None));

        // Revoked between the request and the send: nothing goes out.
        world.issuance.revoke(&kept.key, "chargeback", Actor::Admin).await.unwrap();
        world.outbox.deliver_due(10).await.unwrap();
        assert!(world.mailer.sent().is_empty());
        let settled = &portal_deliveries(&world).await[0];
        assert_eq!(settled.status, DeliveryStatus::Failed);
        assert!(settled.last_error.as_deref().unwrap().contains("no licenses"), "{settled:?}");
    })
}

#[test]
fn the_link_opens_the_licenses_of_its_address_until_it_expires() {
    block_on(async {
        let world = world();
        let perpetual = mint(&world, "pro", "ada@example.com").await;
        let monthly = mint(&world, "month", "ada@example.com").await;
        mint(&world, "pro", "eve@example.com").await;
        world.activation.activate(on(&perpetual, "desk")).await.unwrap();
        world.portal.request_licenses(&email("ada@example.com")).await.unwrap();
        let token = link_from_email(&world).await;
        let sent = world.mailer.sent();
        assert!(sent[0].text_body.contains("https://lic.example.com/portal/licenses?token="), "{}", sent[0].text_body);

        let view = world.portal.open(&token).await.unwrap();
        assert_eq!(view.email.as_str(), "ada@example.com");
        assert_eq!(view.link_expires_at, datetime!(2026-11-23 13:00 UTC));
        let keys: Vec<_> = view.licenses.iter().map(|item| item.license.key.clone()).collect();
        assert_eq!(keys.len(), 2);
        assert!(keys.contains(&perpetual.key) && keys.contains(&monthly.key));
        let desk = view.licenses.iter().find(|item| item.license.key == perpetual.key).unwrap();
        assert_eq!(desk.machines.len(), 1);
        assert_eq!(desk.machines[0].name.as_deref(), Some("desk box"));
        assert_eq!(desk.renew_url, None, "perpetual licenses are not renewed");
        let month = view.licenses.iter().find(|item| item.license.key == monthly.key).unwrap();
        assert_eq!(month.renew_url.as_deref(), Some("https://shop.example.com/app"), "expires within 30 days");
        assert_eq!(month.status, LicenseStatus::Active);

        // Another server's link or garbage is not a portal link (forgery: the ring adapter's tests).
        let other_server =
            InMemorySigner::portal_links(world.clock.clone(), "elsewhere").issue(&email("ada@example.com"));
        let refused = world.portal.open(&other_server.unwrap().token).await.unwrap_err();
        assert!(matches!(refused, OpenPortalError::Link(PortalLinkError::Invalid(_))), "{refused:?}");
        assert!(matches!(world.portal.open("garbage").await, Err(OpenPortalError::Link(PortalLinkError::Invalid(_)))));

        world.clock.advance(Duration::minutes(60));
        let expired = world.portal.open(&token).await.unwrap_err();
        assert!(matches!(expired, OpenPortalError::Link(PortalLinkError::Expired)), "{expired:?}");
    })
}

#[test]
fn freeing_a_machine_from_the_portal_counts_toward_churn_and_stays_within_the_owner() {
    block_on(async {
        let world = world(); // churn_per_day = 2
        let license = mint(&world, "pro", "ada@example.com").await;
        let other = mint(&world, "pro", "eve@example.com").await;
        let eves = world.activation.activate(on(&other, "eve-1")).await.unwrap().activation;
        world.portal.request_licenses(&email("ada@example.com")).await.unwrap();
        let token = link_from_email(&world).await;

        let refused = world.portal.deactivate_machine(&token, eves.id).await.unwrap_err();
        assert!(matches!(refused, PortalDeactivateError::NotFound(_)), "{refused:?}");
        assert_eq!(world.activation.machines(&other).await.unwrap().len(), 1, "Eve's machine stays");

        for machine in ["m1", "m2"] {
            let leased = world.activation.activate(on(&license, machine)).await.unwrap();
            let freed = world.portal.deactivate_machine(&token, leased.activation.id).await.unwrap();
            assert!(freed.deactivated_at.is_some());
            // Idempotent.
            world.portal.deactivate_machine(&token, leased.activation.id).await.unwrap();
        }
        let capped = world.activation.activate(on(&license, "m3")).await.unwrap_err();
        assert!(matches!(capped, ActivateError::Churn { limit: 2 }), "{capped:?}");
    })
}
