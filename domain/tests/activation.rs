//! The activation use cases on in-memory fakes: seats, leases, refusals, churn.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::executor::block_on;

use tessera_domain::activation::{
    Activate, ActivateError, ActivationDeps, ActivationPolicy, ActivationService, DeactivateError, HeartbeatError,
    Refusal, ValidationCode,
};
use tessera_domain::audit::{Actor, AuditFilter, AuditLog};
use tessera_domain::catalog::{Catalog, Product, Tier};
use tessera_domain::issuance::{IssuanceService, MintLicense};
use tessera_domain::license::{
    AppVersion, CustomerName, EmailAddress, Fingerprint, License, LicenseKey, MachineName, Platform,
};
use tessera_domain::page::PageRequest;
use tessera_memory::{InMemorySigner, InMemoryStore, ManualClock, SeededRandomSource};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const NOW: OffsetDateTime = datetime!(2026-11-23 12:00 UTC);

struct World {
    issuance: IssuanceService,
    activation: ActivationService,
    store: Arc<InMemoryStore>,
    clock: Arc<ManualClock>,
}

fn world_with(policy: ActivationPolicy) -> World {
    let tier = |slug: &str, seats, duration_days, app_versions| Tier {
        name: None,
        slug: slug.into(),
        features: vec!["export".into()],
        seats,
        duration_days,
        app_versions,
        downloads: Default::default(),
    };
    let catalog = Arc::new(
        Catalog::new(vec![Product {
            slug: "app".into(),
            name: "App".into(),
            key_prefix: "APP".into(),
            renew_url: None,
            tiers: BTreeMap::from([
                ("pro".into(), tier("pro", 3, Some(365), None)),
                ("v2".into(), tier("v2", 2, None, Some(vec![2]))),
            ]),
        }])
        .unwrap(),
    );
    let store = Arc::new(InMemoryStore::new());
    let clock = Arc::new(ManualClock::at(NOW));
    let random = Arc::new(SeededRandomSource::new(7));
    let signer: Arc<InMemorySigner> = Arc::new(InMemorySigner);
    World {
        issuance: IssuanceService::new(
            store.clone(),
            signer.clone(),
            clock.clone(),
            random.clone(),
            catalog.clone(),
            "test".to_owned(),
        ),
        activation: ActivationService::new(ActivationDeps {
            activations: store.clone(),
            signer: signer.clone(),
            verifier: signer,
            clock: clock.clone(),
            random,
            catalog,
            releases: store.clone(),
            issuer: "test".to_owned(),
            policy,
        }),
        store,
        clock,
    }
}

fn world() -> World {
    world_with(ActivationPolicy { lease_days: 30, grace_days: 7, churn_per_day: 3 })
}

async fn mint(world: &World, tier: &str) -> License {
    mint_with(world, tier, None).await
}

async fn mint_with(world: &World, tier: &str, app_versions: Option<Vec<u32>>) -> License {
    let name = CustomerName::parse("Ada Lovelace").unwrap();
    let request = MintLicense {
        app_versions,
        ..MintLicense::new("app", tier, name, EmailAddress::parse("ada@example.com").unwrap())
    };
    world.issuance.mint(request, Actor::Admin).await.unwrap().license
}

fn on(key: &LicenseKey, machine: &str) -> Activate {
    Activate {
        key: key.to_string(),
        fingerprint: Fingerprint::parse(machine).unwrap(),
        machine_name: MachineName::parse(&format!("{machine}'s laptop")).unwrap(),
        platform: Platform::parse("linux").unwrap(),
        app_version: None,
        name: None,
        email: None,
    }
}

fn refusal(error: ActivateError) -> Refusal {
    match error {
        ActivateError::Refused(refusal) => refusal,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_machine_takes_one_seat_and_gets_a_lease_bound_to_it() {
    block_on(async {
        let world = world();
        let license = mint(&world, "pro").await;
        let leased = world.activation.activate(on(&license.key, "machine-a")).await.unwrap();
        assert_eq!(leased.seats_used, 1);
        let claims = InMemorySigner::lease_claims_of(&leased.lease).unwrap();
        assert_eq!((claims.sub.as_str(), claims.fp.as_str()), (license.key.as_str(), "machine-a"));
        assert_eq!(claims.jti, leased.activation.id.to_string());
        assert_eq!(claims.exp, (NOW + Duration::days(30)).unix_timestamp());
        assert_eq!((claims.grace_days, claims.features.as_slice()), (7, ["export".to_owned()].as_slice()));

        world.clock.advance(Duration::hours(1));
        let again = world.activation.activate(on(&license.key, "machine-a")).await.unwrap();
        assert_eq!(again.activation.id, leased.activation.id, "the same machine reuses its seat");
        assert_eq!(again.seats_used, 1);
        assert_eq!(again.activation.last_seen_at, NOW + Duration::hours(1));
        assert_ne!(again.lease, leased.lease, "a fresh lease");
    })
}

#[test]
fn seats_run_out_and_deactivation_frees_one() {
    block_on(async {
        let world = world();
        let license = mint(&world, "pro").await; // 3 seats
        let mut leases = Vec::new();
        for machine in ["a", "b", "c"] {
            world.clock.advance(Duration::seconds(1)); // ids order by time
            leases.push(world.activation.activate(on(&license.key, machine)).await.unwrap().lease);
        }
        let full = world.activation.activate(on(&license.key, "d")).await.unwrap_err();
        assert!(matches!(full, ActivateError::TooManyMachines { seats: 3 }), "{full:?}");

        world.activation.deactivate(&leases[0], &Fingerprint::parse("a").unwrap()).await.unwrap();
        world.activation.deactivate(&leases[0], &Fingerprint::parse("a").unwrap()).await.unwrap(); // idempotent
        world.clock.advance(Duration::seconds(1));
        let d = world.activation.activate(on(&license.key, "d")).await.unwrap();
        assert_eq!(d.seats_used, 3);
        let machines = world.activation.machines(&license).await.unwrap();
        let fingerprints: Vec<_> = machines.iter().map(|machine| machine.fingerprint.as_str()).collect();
        assert_eq!(fingerprints, ["b", "c", "d"]);

        let stolen = world.activation.deactivate(&leases[1], &Fingerprint::parse("zzz").unwrap()).await.unwrap_err();
        assert!(matches!(stolen, DeactivateError::FingerprintMismatch));
        let garbage = world.activation.deactivate("garbage", &Fingerprint::parse("b").unwrap()).await.unwrap_err();
        assert!(matches!(garbage, DeactivateError::InvalidLease(_)));
    })
}

#[test]
fn revoked_suspended_and_expired_licenses_cannot_run() {
    block_on(async {
        let world = world();
        let license = mint(&world, "pro").await;
        let lease = world.activation.activate(on(&license.key, "a")).await.unwrap().lease;
        let fingerprint = Fingerprint::parse("a").unwrap();

        world.issuance.suspend(&license.key, Actor::Admin).await.unwrap();
        assert_eq!(refusal(world.activation.activate(on(&license.key, "b")).await.unwrap_err()), Refusal::Suspended);
        assert!(matches!(
            world.activation.heartbeat(&lease, &fingerprint, None).await.unwrap_err(),
            HeartbeatError::Refused(Refusal::Suspended)
        ));
        let validation = world.activation.validate(license.key.as_str(), None, None).await.unwrap();
        assert_eq!(validation.code, ValidationCode::Refused(Refusal::Suspended));

        world.issuance.reinstate(&license.key, Actor::Admin).await.unwrap();
        world.activation.heartbeat(&lease, &fingerprint, None).await.unwrap();
        world.issuance.revoke(&license.key, "chargeback", Actor::Admin).await.unwrap();
        assert_eq!(refusal(world.activation.activate(on(&license.key, "a")).await.unwrap_err()), Refusal::Revoked);
        assert!(matches!(
            world.activation.heartbeat(&lease, &fingerprint, None).await.unwrap_err(),
            HeartbeatError::Refused(Refusal::Revoked)
        ));
        assert_eq!(
            world.activation.validate(license.key.as_str(), Some(&fingerprint), None).await.unwrap().code.code(),
            "REVOKED"
        );

        let expiring = mint(&world, "pro").await; // 365 days
        world.clock.advance(Duration::days(366));
        assert_eq!(refusal(world.activation.activate(on(&expiring.key, "a")).await.unwrap_err()), Refusal::Expired);
        assert_eq!(world.activation.validate(expiring.key.as_str(), None, None).await.unwrap().code.code(), "EXPIRED");
        let unknown = LicenseKey::parse("APP-PRO-NOPE-NOPE").unwrap();
        assert_eq!(refusal(world.activation.activate(on(&unknown, "a")).await.unwrap_err()), Refusal::NotFound);
        let missing = world.activation.validate(unknown.as_str(), None, None).await.unwrap();
        assert_eq!((missing.code.code(), missing.machine), ("NOT_FOUND", None));
        // Text that is no license key at all is not found either: the rule is the domain's.
        let typo = Activate { key: "not a key!".into(), ..on(&unknown, "a") };
        assert_eq!(refusal(world.activation.activate(typo).await.unwrap_err()), Refusal::NotFound);
        assert_eq!(world.activation.validate("%%%", None, None).await.unwrap().code.code(), "NOT_FOUND");
    })
}

#[test]
fn a_lease_never_outlives_its_license() {
    block_on(async {
        let world = world();
        let license = mint(&world, "pro").await;
        world.clock.advance(Duration::days(350)); // 15 days left
        let leased = world.activation.activate(on(&license.key, "a")).await.unwrap();
        assert_eq!(Some(leased.lease_expires_at), license.expires_at);
        assert_eq!(
            InMemorySigner::lease_claims_of(&leased.lease).unwrap().exp,
            license.expires_at.unwrap().unix_timestamp()
        );
    })
}

#[test]
fn identity_and_version_rules() {
    block_on(async {
        let world = world();
        let license = mint(&world, "v2").await; // app major 2 only
        let with = |name: Option<&str>, email: Option<&str>, version: Option<&str>| Activate {
            name: name.map(str::to_owned),
            email: email.map(str::to_owned),
            app_version: version.map(|version| AppVersion::parse(version).unwrap()),
            ..on(&license.key, "a")
        };
        let mismatch = world.activation.activate(with(Some("Someone Else"), None, None)).await.unwrap_err();
        assert_eq!(refusal(mismatch), Refusal::IdentityMismatch);
        let mismatch = world.activation.activate(with(None, Some("other@example.com"), None)).await.unwrap_err();
        assert_eq!(refusal(mismatch), Refusal::IdentityMismatch);
        let old_app = world.activation.activate(with(None, None, Some("1.9.3"))).await.unwrap_err();
        assert_eq!(refusal(old_app), Refusal::VersionMismatch);
        let ok = world.activation.activate(with(Some("  ada LOVELACE "), Some("ADA@example.com"), Some("2.4.0"))).await;
        assert_eq!(ok.unwrap().activation.app_version.as_deref(), Some("2.4.0"));
        let license_rule = mint_with(&world, "v2", Some(vec![2, 3])).await;
        let v3_app = Activate { app_version: Some(AppVersion::parse("3.1").unwrap()), ..on(&license_rule.key, "b") };
        world.activation.activate(v3_app).await.expect("the license's own rule overrides the tier's");
        let pinned = mint_with(&world, "pro", Some(vec![3])).await;
        let v2_app = Activate { app_version: Some(AppVersion::parse("2.0").unwrap()), ..on(&pinned.key, "c") };
        assert_eq!(refusal(world.activation.activate(v2_app).await.unwrap_err()), Refusal::VersionMismatch);
        let v3 = AppVersion::parse("3.0").unwrap();
        let validation = world.activation.validate(license.key.as_str(), None, Some(&v3)).await.unwrap();
        assert_eq!(validation.code.code(), "VERSION_MISMATCH");
    })
}

#[test]
fn validate_knows_which_machines_hold_seats() {
    block_on(async {
        let world = world();
        let license = mint(&world, "pro").await;
        world.activation.activate(on(&license.key, "a")).await.unwrap();
        let a = Fingerprint::parse("a").unwrap();
        let b = Fingerprint::parse("b").unwrap();
        let valid = world.activation.validate(license.key.as_str(), Some(&a), None).await.unwrap();
        assert_eq!(valid.code, ValidationCode::Valid);
        assert_eq!(valid.machine.unwrap().seats_used, 1);
        assert_eq!(
            world.activation.validate(license.key.as_str(), Some(&b), None).await.unwrap().code.code(),
            "NO_MACHINE"
        );
        assert_eq!(
            world.activation.validate(license.key.as_str(), None, None).await.unwrap().code,
            ValidationCode::Valid
        );
    })
}

#[test]
fn heartbeat_renews_even_an_expired_lease_but_only_for_its_machine() {
    block_on(async {
        let world = world();
        let license = mint(&world, "pro").await;
        let first = world.activation.activate(on(&license.key, "a")).await.unwrap();
        world.clock.advance(Duration::days(40)); // the lease expired 10 days ago
        let a = Fingerprint::parse("a").unwrap();
        let renewed = world.activation.heartbeat(&first.lease, &a, None).await.unwrap();
        assert_eq!(renewed.lease_expires_at, NOW + Duration::days(70));
        assert_eq!(renewed.activation.id, first.activation.id);

        let b = Fingerprint::parse("b").unwrap();
        assert!(matches!(
            world.activation.heartbeat(&first.lease, &b, None).await.unwrap_err(),
            HeartbeatError::FingerprintMismatch
        ));
        assert!(matches!(
            world.activation.heartbeat(&license.token, &a, None).await.unwrap_err(),
            HeartbeatError::InvalidLease(_)
        ));

        world.activation.admin_deactivate(first.activation.id).await.unwrap();
        assert!(matches!(
            world.activation.heartbeat(&renewed.lease, &a, None).await.unwrap_err(),
            HeartbeatError::Refused(Refusal::NoMachine)
        ));
    })
}

#[test]
fn cycling_machines_is_capped_per_day() {
    block_on(async {
        let world = world(); // churn_per_day = 3
        let license = mint(&world, "pro").await;
        for cycle in 0..3 {
            let leased = world.activation.activate(on(&license.key, &format!("m{cycle}"))).await.unwrap();
            world.activation.deactivate(&leased.lease, &leased.activation.fingerprint).await.unwrap();
        }
        let capped = world.activation.activate(on(&license.key, "m3")).await.unwrap_err();
        assert!(matches!(capped, ActivateError::Churn { limit: 3 }), "{capped:?}");

        world.clock.advance(Duration::hours(25));
        world.activation.activate(on(&license.key, "m3")).await.unwrap();

        let unlimited = world_with(ActivationPolicy { churn_per_day: 0, ..ActivationPolicy::default() });
        let license = mint(&unlimited, "pro").await;
        for cycle in 0..20 {
            let leased = unlimited.activation.activate(on(&license.key, &format!("m{cycle}"))).await.unwrap();
            unlimited.activation.deactivate(&leased.lease, &leased.activation.fingerprint).await.unwrap();
        }
    })
}

#[test]
fn activations_and_deactivations_are_audited() {
    block_on(async {
        let world = world();
        let license = mint(&world, "pro").await;
        let leased = world.activation.activate(on(&license.key, "a")).await.unwrap();
        world.clock.advance(Duration::seconds(1));
        world.activation.admin_deactivate(leased.activation.id).await.unwrap();
        let again = world.activation.admin_deactivate(leased.activation.id).await.unwrap();
        assert_eq!(again.deactivated_at, Some(NOW + Duration::seconds(1)), "idempotent, first time kept");
        let events = world.store.list_audit(&AuditFilter::default(), &PageRequest::first(50)).await.unwrap().items;
        let trail: Vec<_> = events.iter().rev().map(|event| (event.action.as_str(), event.actor.to_string())).collect();
        assert_eq!(
            trail,
            [
                ("license.minted", "admin".to_owned()),
                ("activation.created", "buyer".to_owned()),
                ("activation.deactivated", "admin".to_owned())
            ]
        );
        assert!(world.activation.admin_deactivate(uuid::Uuid::nil()).await.is_err());
    })
}
