//! The issuance use cases on in-memory fakes — a manual clock, a seeded random
//! source and a signer whose "tokens" are readable claims — and the operator's
//! day series of what they mint.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::executor::block_on;

use tessera_domain::audit::{Actor, AuditFilter, AuditLog};
use tessera_domain::catalog::{Catalog, Product, Tier};
use tessera_domain::issuance::*;
use tessera_domain::license::*;
use tessera_domain::page::PageRequest;
use tessera_memory::{InMemorySigner, InMemoryStore, ManualClock, SeededRandomSource};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const NOW: OffsetDateTime = datetime!(2026-06-01 12:00:00 UTC);

struct World {
    service: IssuanceService,
    store: Arc<InMemoryStore>,
    clock: Arc<ManualClock>,
}

fn catalog() -> Catalog {
    let tier = |slug: &str, seats, duration_days| Tier {
        name: None,
        slug: slug.into(),
        features: vec!["dedupe".into(), "clean".into()],
        seats,
        duration_days,
        app_versions: None,
        downloads: Default::default(),
    };
    Catalog::new(vec![Product {
        slug: "datatools".into(),
        name: "DataTools".into(),
        key_prefix: "DT1".into(),
        renew_url: None,
        tiers: BTreeMap::from([
            ("core".into(), tier("core", 3, Some(365))),
            ("lifetime".into(), tier("lifetime", 2, None)),
        ]),
    }])
    .unwrap()
}

fn world() -> World {
    let store = Arc::new(InMemoryStore::new());
    let clock = Arc::new(ManualClock::at(NOW));
    let service = IssuanceService::new(
        store.clone(),
        Arc::new(InMemorySigner),
        clock.clone(),
        Arc::new(SeededRandomSource::new(7)),
        Arc::new(catalog()),
        "tessera-test",
    );
    World { service, store, clock }
}

fn request(tier: &str) -> MintLicense {
    MintLicense::new(
        "datatools",
        tier,
        CustomerName::parse("Jane Doe").unwrap(),
        EmailAddress::parse("jane@example.com").unwrap(),
    )
}

async fn audit_actions(world: &World, key: &LicenseKey) -> Vec<(String, String)> {
    let filter = AuditFilter { entity_id: Some(key.to_string()), ..Default::default() };
    let page = world.store.list_audit(&filter, &PageRequest::first(100)).await.unwrap();
    page.items.into_iter().rev().map(|event| (event.action, event.actor.to_string())).collect()
}

#[test]
fn mint_applies_the_tier_and_signs_the_contract_claims() {
    block_on(async {
        let world = world();
        let minted = world.service.mint(request("core"), Actor::Admin).await.unwrap();
        let license = minted.license;
        assert!(!minted.replayed);
        // A one-time 365-day term: `fixed_term`, not `subscription` (nothing renews it).
        assert_eq!((license.seats, license.kind, license.state), (3, LicenseKind::FixedTerm, LicenseState::Active));
        assert_eq!(license.expires_at, Some(NOW + Duration::days(365)));
        assert_eq!(license.source, "admin");

        let key = license.key.as_str();
        let groups: Vec<&str> = key.split('-').collect();
        assert_eq!(&groups[..2], ["DT1", "CORE"]);
        assert_eq!(groups.len(), 6);
        assert!(groups[2..].iter().all(|group| group.len() == 5 && group.bytes().all(|b| KEY_ALPHABET.contains(&b))));

        let claims = InMemorySigner::claims_of(&license.token).unwrap();
        assert_eq!(claims.iss, "tessera-test");
        assert_eq!(claims.sub, key);
        assert_eq!(claims.jti, license.id.to_string());
        assert_eq!(claims.iat, NOW.unix_timestamp());
        assert_eq!(claims.exp, Some((NOW + Duration::days(365)).unix_timestamp()));
        assert_eq!(
            (claims.product.as_str(), claims.tier.as_str(), claims.kind.as_str()),
            ("datatools", "core", "fixed_term")
        );
        assert_eq!((claims.name.as_str(), claims.email.as_str(), claims.seats), ("Jane Doe", "jane@example.com", 3));
        assert_eq!(claims.features, ["dedupe", "clean"]);
        assert_eq!(world.service.get(&license.key).await.unwrap(), license);
        assert_eq!(audit_actions(&world, &license.key).await, [("license.minted".into(), "admin".into())]);
    })
}

#[test]
fn a_tier_without_duration_mints_perpetual_licenses_without_exp() {
    block_on(async {
        let world = world();
        let license = world.service.mint(request("lifetime"), Actor::Admin).await.unwrap().license;
        assert_eq!((license.kind, license.expires_at), (LicenseKind::Perpetual, None));
        assert_eq!(InMemorySigner::claims_of(&license.token).unwrap().exp, None);
    })
}

#[test]
fn mint_overrides_and_custom_keys() {
    block_on(async {
        let world = world();
        let mut custom = request("lifetime");
        custom.key = Some(LicenseKey::parse("my-custom-key-01").unwrap());
        custom.seats = Some(10);
        custom.kind = Some(LicenseKind::Trial);
        custom.duration_days = Some(14);
        let license = world.service.mint(custom.clone(), Actor::Admin).await.unwrap().license;
        assert_eq!(license.key.as_str(), "MY-CUSTOM-KEY-01");
        assert_eq!(
            (license.seats, license.kind, license.expires_at),
            (10, LicenseKind::Trial, Some(NOW + Duration::days(14)))
        );
        let error = world.service.mint(custom, Actor::Admin).await.unwrap_err();
        assert!(matches!(error, MintError::KeyTaken(_)), "{error:?}");
    })
}

#[test]
fn invalid_mints_are_refused_and_store_nothing() {
    block_on(async {
        let world = world();
        type Check = fn(&MintError) -> bool;
        let cases: Vec<(MintLicense, Check)> = vec![
            (MintLicense { product: "nope".into(), ..request("core") }, |e| matches!(e, MintError::UnknownProduct(_))),
            (MintLicense { tier: "gold".into(), ..request("core") }, |e| matches!(e, MintError::UnknownTier { .. })),
            (MintLicense { seats: Some(0), ..request("core") }, |e| matches!(e, MintError::InvalidSeats)),
            (MintLicense { seats: Some(MAX_SEATS + 1), ..request("core") }, |e| matches!(e, MintError::InvalidSeats)),
            (
                MintLicense { duration_days: Some(10), expires_at: Some(NOW + Duration::days(3)), ..request("core") },
                |e| matches!(e, MintError::InvalidTerm(_)),
            ),
            (MintLicense { expires_at: Some(NOW - Duration::days(1)), ..request("core") }, |e| {
                matches!(e, MintError::InvalidTerm(_))
            }),
            (MintLicense { kind: Some(LicenseKind::Perpetual), duration_days: Some(30), ..request("core") }, |e| {
                matches!(e, MintError::InvalidTerm(_))
            }),
            (MintLicense { kind: Some(LicenseKind::Trial), ..request("lifetime") }, |e| {
                matches!(e, MintError::InvalidTerm(_))
            }),
            (MintLicense { source: Some("Bad Source!".into()), ..request("core") }, |e| {
                matches!(e, MintError::InvalidField(_))
            }),
            (MintLicense { notes: Some("x".repeat(2001)), ..request("core") }, |e| {
                matches!(e, MintError::InvalidField(_))
            }),
        ];
        for (request, expected) in cases {
            let error = world.service.mint(request.clone(), Actor::Admin).await.unwrap_err();
            assert!(expected(&error), "{request:?} gave {error:?}");
        }
        let all = world.store.list_audit(&AuditFilter::default(), &PageRequest::first(10)).await.unwrap();
        assert!(all.items.is_empty(), "nothing was minted or audited");
    })
}

#[test]
fn an_idempotency_key_returns_the_first_license_and_refuses_another_request() {
    block_on(async {
        let world = world();
        let mut first = request("core");
        first.idempotency_key = Some(IdempotencyKey::parse("order-1001").unwrap());
        let minted = world.service.mint(first.clone(), Actor::Admin).await.unwrap();
        world.clock.advance(Duration::minutes(5));
        let repeated = world.service.mint(first.clone(), Actor::Admin).await.unwrap();
        assert!(repeated.replayed);
        assert_eq!(repeated.license, minted.license);

        let mut different = first.clone();
        different.seats = Some(9);
        assert!(matches!(
            world.service.mint(different, Actor::Admin).await.unwrap_err(),
            MintError::IdempotencyKeyReused
        ));

        let without_key = world.service.mint(request("core"), Actor::Admin).await.unwrap();
        let again_without_key = world.service.mint(request("core"), Actor::Admin).await.unwrap();
        assert_ne!(without_key.license.key, again_without_key.license.key, "no key, no deduplication");
    })
}

#[test]
fn concurrent_repeats_of_one_idempotent_mint_give_one_license() {
    block_on(async {
        let world = world();
        let mut mint = request("core");
        mint.idempotency_key = Some(IdempotencyKey::parse("burst").unwrap());
        let results = futures::future::join_all((0..20).map(|_| world.service.mint(mint.clone(), Actor::Admin))).await;
        let keys: std::collections::BTreeSet<_> =
            results.into_iter().map(|result| result.unwrap().license.key).collect();
        assert_eq!(keys.len(), 1);
    })
}

#[test]
fn the_lifecycle_follows_its_rules_and_audits_every_change() {
    block_on(async {
        let world = world();
        let key = world.service.mint(request("core"), Actor::Admin).await.unwrap().license.key;

        // Audit events are ordered by their time-ordered ids; give each step its own instant.
        world.clock.advance(Duration::seconds(1));
        let suspended = world.service.suspend(&key, Actor::Admin).await.unwrap();
        assert_eq!(suspended.state, LicenseState::Suspended);
        assert!(matches!(
            world.service.suspend(&key, Actor::Admin).await.unwrap_err(),
            ChangeStateError::InvalidTransition { .. }
        ));
        world.clock.advance(Duration::seconds(1));
        let reinstated = world.service.reinstate(&key, Actor::Storefront("gumroad".into())).await.unwrap();
        assert_eq!(reinstated.state, LicenseState::Active);
        assert!(matches!(
            world.service.reinstate(&key, Actor::Admin).await.unwrap_err(),
            ChangeStateError::InvalidTransition { .. }
        ));

        assert!(matches!(
            world.service.revoke(&key, "  ", Actor::Admin).await.unwrap_err(),
            ChangeStateError::InvalidReason
        ));
        world.clock.advance(Duration::seconds(1));
        let revoked = world.service.revoke(&key, "chargeback", Actor::Admin).await.unwrap();
        assert_eq!((revoked.state, revoked.revoke_reason.as_deref()), (LicenseState::Revoked, Some("chargeback")));
        assert!(matches!(
            world.service.revoke(&key, "again", Actor::Admin).await.unwrap_err(),
            ChangeStateError::InvalidTransition { .. }
        ));
        assert!(matches!(
            world.service.reinstate(&key, Actor::Admin).await.unwrap_err(),
            ChangeStateError::InvalidTransition { .. }
        ));
        assert!(matches!(
            world.service.renew(&key, RenewLicense::default(), Actor::Admin).await.unwrap_err(),
            RenewError::Revoked
        ));

        let missing = LicenseKey::parse("DT1-CORE-NOPE-NOPE").unwrap();
        assert!(matches!(
            world.service.suspend(&missing, Actor::Admin).await.unwrap_err(),
            ChangeStateError::NotFound(_)
        ));

        let actions = audit_actions(&world, &key).await;
        let expected = [
            ("license.minted", "admin"),
            ("license.suspended", "admin"),
            ("license.reinstated", "storefront:gumroad"),
            ("license.revoked", "admin"),
        ];
        assert_eq!(actions, expected.map(|(action, actor)| (action.to_owned(), actor.to_owned())));
    })
}

#[test]
fn renew_extends_from_the_later_of_now_and_expiry_and_re_signs() {
    block_on(async {
        let world = world();
        let license = world.service.mint(request("core"), Actor::Admin).await.unwrap().license;
        let first_expiry = license.expires_at.unwrap();

        world.clock.advance(Duration::days(100));
        let early = world
            .service
            .renew(&license.key, RenewLicense { duration_days: Some(30), expires_at: None }, Actor::Admin)
            .await
            .unwrap();
        assert_eq!(early.expires_at, Some(first_expiry + Duration::days(30)), "renewing early loses no days");
        assert_eq!(
            InMemorySigner::claims_of(&early.token).unwrap().exp,
            Some((first_expiry + Duration::days(30)).unix_timestamp())
        );
        assert_eq!(InMemorySigner::claims_of(&early.token).unwrap().iat, (NOW + Duration::days(100)).unix_timestamp());

        world.clock.advance(Duration::days(400));
        assert_eq!(
            world.service.get(&license.key).await.unwrap().status_at(world.service.now()),
            LicenseStatus::Expired
        );
        let late = world.service.renew(&license.key, RenewLicense::default(), Actor::Admin).await.unwrap();
        assert_eq!(
            late.expires_at,
            Some(world.service.now() + Duration::days(365)),
            "an expired license renews from now, by the tier"
        );
        assert_eq!(late.status_at(world.service.now()), LicenseStatus::Active);

        let perpetual = world.service.mint(request("lifetime"), Actor::Admin).await.unwrap().license;
        assert!(matches!(
            world.service.renew(&perpetual.key, RenewLicense::default(), Actor::Admin).await.unwrap_err(),
            RenewError::InvalidTerm(_)
        ));
    })
}

#[test]
fn a_database_outage_is_reported_as_unavailable() {
    block_on(async {
        let world = world();
        world.store.set_unavailable(true);
        let error = world.service.mint(request("core"), Actor::Admin).await.unwrap_err();
        assert!(
            matches!(error, MintError::Repository(tessera_domain::repository::RepositoryError::Unavailable(_))),
            "{error:?}"
        );
    })
}

#[test]
fn edge_parsers_accept_what_buyers_type_and_refuse_the_rest() {
    assert_eq!(LicenseKey::parse("  dt1-core-7k3qx ").unwrap().as_str(), "DT1-CORE-7K3QX");
    for bad in ["short", "has space in it", "ÜNÏCODE-KEY-1", &"A".repeat(65)] {
        assert!(LicenseKey::parse(bad).is_err(), "{bad}");
    }
    assert_eq!(EmailAddress::parse(" Jane@Example.COM ").unwrap().as_str(), "jane@example.com");
    for bad in ["", "jane", "jane@", "@example.com", "jane@example", "ja ne@example.com", "a@b@c.com", "jane@.com"] {
        assert!(EmailAddress::parse(bad).is_err(), "{bad}");
    }
    assert!(CustomerName::parse("   ").is_err());
    assert!(CustomerName::parse("bell\u{7}").is_err());
    assert!(IdempotencyKey::parse("has space").is_err());
}

#[test]
fn the_catalog_refuses_invalid_products() {
    let product = |slug: &str, prefix: &str, seats| Product {
        slug: slug.into(),
        name: "X".into(),
        key_prefix: prefix.into(),
        renew_url: None,
        tiers: BTreeMap::from([(
            "core".into(),
            Tier {
                name: None,
                slug: "core".into(),
                features: vec![],
                seats,
                duration_days: None,
                app_versions: None,
                downloads: Default::default(),
            },
        )]),
    };
    assert!(Catalog::new(vec![product("ok", "OK1", 1)]).is_ok());
    assert!(Catalog::new(vec![product("Bad Slug", "OK1", 1)]).is_err());
    assert!(Catalog::new(vec![product("ok", "lower", 1)]).is_err());
    assert!(Catalog::new(vec![product("ok", "OK1", 0)]).is_err());
    assert!(Catalog::new(vec![product("a", "SAME", 1), product("b", "SAME", 1)]).is_err());
    assert!(Catalog::new(vec![product("a", "A1", 1), product("a", "A2", 1)]).is_err());
}

#[test]
fn a_search_for_a_whole_email_finds_that_buyer_and_other_text_is_a_substring() {
    let world = world();
    let ada = block_on(world.service.mint(request("core"), Actor::Admin)).unwrap().license;
    let other = MintLicense { email: EmailAddress::parse("adam@example.org").unwrap(), ..request("core") };
    let adam = block_on(world.service.mint(other, Actor::Admin)).unwrap().license;
    let keys = |filter: &LicenseFilter| {
        let page = block_on(world.service.list(filter, &PageRequest::first(10))).unwrap();
        let mut keys: Vec<String> = page.items.iter().map(|license| license.key.to_string()).collect();
        keys.sort();
        keys
    };
    let by_email = LicenseFilter::search(&format!(" {} ", ada.email.as_str().to_uppercase()), NOW);
    assert_eq!(by_email.email.as_ref(), Some(&ada.email), "a whole address is the email filter");
    assert_eq!(keys(&by_email), [ada.key.to_string()]);
    let substring = LicenseFilter::search("example.", NOW);
    assert_eq!(substring.query.as_deref(), Some("example."));
    let mut both = vec![ada.key.to_string(), adam.key.to_string()];
    both.sort();
    assert_eq!(keys(&substring), both);
    assert_eq!(LicenseFilter::search("  ", NOW), LicenseFilter::all(NOW), "nothing typed: everything");
}

#[test]
fn the_activity_series_has_every_day_oldest_first_with_zeros_between() {
    use tessera_domain::reports::{ReportDeps, ReportService};
    use tessera_domain::stats::DayCounts;
    let world = world();
    let store = world.store.clone();
    let reports = ReportService::new(ReportDeps {
        audit: store.clone(),
        stats: store.clone(),
        events: store.clone(),
        licenses: store,
        clock: world.clock.clone(),
    });
    let sale = |source: &str| MintLicense { source: Some(source.into()), ..request("lifetime") };
    // June 1st: one operator mint and one sale; June 3rd: two sales; June 4th is today.
    world.clock.set(datetime!(2026-06-01 23:30 UTC));
    block_on(world.service.mint(request("lifetime"), Actor::Admin)).unwrap();
    block_on(world.service.mint(sale("gumroad"), Actor::Admin)).unwrap();
    world.clock.advance(Duration::days(2));
    block_on(world.service.mint(sale("stripe"), Actor::Admin)).unwrap();
    block_on(world.service.mint(sale("stripe"), Actor::Admin)).unwrap();
    world.clock.advance(Duration::hours(1));

    let day = |day, mints, sales| DayCounts { day, mints, sales, activations: 0 };
    let series = block_on(reports.activity(5)).unwrap();
    assert_eq!(
        series,
        [
            day(datetime!(2026-05-31 0:00 UTC).date(), 0, 0),
            day(datetime!(2026-06-01 0:00 UTC).date(), 2, 1),
            day(datetime!(2026-06-02 0:00 UTC).date(), 0, 0),
            day(datetime!(2026-06-03 0:00 UTC).date(), 2, 2),
            day(datetime!(2026-06-04 0:00 UTC).date(), 0, 0),
        ]
    );
    assert_eq!(block_on(reports.activity(90)).unwrap().len(), 90);
    let last_two = block_on(reports.activity(2)).unwrap();
    assert_eq!(last_two.iter().map(|counts| counts.mints).collect::<Vec<_>>(), [2, 0]);
}
