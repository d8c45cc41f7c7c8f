//! The contract cases. Each takes a fresh, empty repository.

use futures::future::join_all;
use tessera_domain::audit::{Actor, AuditEvent, AuditFilter};
use tessera_domain::license::{
    CreateLicenseError, EmailAddress, Fingerprint, IdempotencyKey, IdempotencyRecord, LicenseFilter, LicenseKey,
    LicenseKind, LicenseState, LicenseStatus, SeatOutcome, UpdateLicenseError,
};
use tessera_domain::page::PageRequest;
use time::Duration;

use crate::{activation, audit_for, delivery, delivery_audit, license, recorded_event, T0};
use tessera_domain::customer::{CustomerFilter, CustomerStoreError};
use tessera_domain::license::Subscription;
use tessera_domain::mail::{DeliveryFilter, DeliveryOutcome, DeliveryStatus, Enqueued};
use tessera_domain::stats::{DayCounts, LicenseCount};
use tessera_domain::storefront::{EventFilter, EventOutcome, EventStatus};
use tessera_domain::usage::{Flag, FlagFilter, FlagReview, FlagStatus, UsageEvent, UsageFilter};

/// What every case needs: the whole store, as the domain names it.
pub use tessera_domain::ports::Store;

async fn audit_count(store: &impl Store) -> usize {
    store.list_audit(&AuditFilter::default(), &PageRequest::first(500)).await.unwrap().items.len()
}

pub async fn creates_and_finds_a_license(store: &impl Store) {
    let mut stored = license(1);
    stored.kind = LicenseKind::Trial;
    stored.source_ref = Some("sale-123".into());
    stored.notes = Some("ünïcode notes ✓".into());
    stored.features = vec![];
    stored.app_versions = Some(vec![2, 3]);
    store.create(&stored, None, &audit_for(&stored, "license.minted", 1)).await.unwrap();
    let found = store.find_by_key(&stored.key).await.unwrap().expect("stored license");
    assert_eq!(found, stored);

    let mut perpetual = license(2);
    perpetual.kind = LicenseKind::Perpetual;
    perpetual.expires_at = None;
    store.create(&perpetual, None, &audit_for(&perpetual, "license.minted", 2)).await.unwrap();
    assert_eq!(store.find_by_key(&perpetual.key).await.unwrap(), Some(perpetual));
}

pub async fn finds_nothing_for_an_unknown_key(store: &impl Store) {
    let key = LicenseKey::parse("NOPE-NOPE-NOPE").unwrap();
    assert_eq!(store.find_by_key(&key).await.unwrap(), None);
    let idempotency = IdempotencyKey::parse("never-used").unwrap();
    assert_eq!(store.find_by_idempotency_key(&idempotency).await.unwrap(), None);
}

pub async fn refuses_a_duplicate_key_and_stores_nothing(store: &impl Store) {
    let first = license(1);
    store.create(&first, None, &audit_for(&first, "license.minted", 1)).await.unwrap();
    let mut second = license(2);
    second.key = first.key.clone();
    let record = IdempotencyRecord { key: IdempotencyKey::parse("k-dup").unwrap(), request: "{}".into() };
    let error = store.create(&second, Some(&record), &audit_for(&second, "license.minted", 2)).await.unwrap_err();
    assert!(matches!(error, CreateLicenseError::KeyTaken(ref key) if *key == first.key), "{error:?}");
    assert_eq!(store.find_by_key(&first.key).await.unwrap(), Some(first));
    assert_eq!(store.find_by_idempotency_key(&record.key).await.unwrap(), None, "no idempotency record left behind");
    assert_eq!(audit_count(store).await, 1, "no audit event for a failed create");
}

pub async fn remembers_idempotency_keys(store: &impl Store) {
    let first = license(1);
    let record = IdempotencyRecord {
        key: IdempotencyKey::parse("order-42").unwrap(),
        request: r#"{"product":"datatools"}"#.into(),
    };
    store.create(&first, Some(&record), &audit_for(&first, "license.minted", 1)).await.unwrap();
    assert_eq!(store.find_by_idempotency_key(&record.key).await.unwrap(), Some((first.clone(), record.clone())));

    let second = license(2);
    let error = store.create(&second, Some(&record), &audit_for(&second, "license.minted", 2)).await.unwrap_err();
    assert!(matches!(error, CreateLicenseError::IdempotencyKeyTaken), "{error:?}");
    assert_eq!(store.find_by_key(&second.key).await.unwrap(), None, "the losing license is not stored");
    assert_eq!(audit_count(store).await, 1);
}

pub async fn concurrent_mints_under_one_idempotency_key_store_one(store: &impl Store) {
    let record = IdempotencyRecord { key: IdempotencyKey::parse("same-key").unwrap(), request: "{}".into() };
    let licenses: Vec<_> = (1..=16).map(license).collect();
    let results = join_all(licenses.iter().enumerate().map(|(n, license)| {
        let record = &record;
        async move { store.create(license, Some(record), &audit_for(license, "license.minted", n as u64)).await }
    }))
    .await;
    let created = results.iter().filter(|result| result.is_ok()).count();
    assert_eq!(created, 1, "{results:?}");
    assert!(results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .all(|e| matches!(e, CreateLicenseError::IdempotencyKeyTaken)));
    let all = store.list(&LicenseFilter::all(T0), &PageRequest::first(100)).await.unwrap();
    assert_eq!(all.items.len(), 1);
    assert_eq!(audit_count(store).await, 1);
}

pub async fn updates_only_from_the_expected_version(store: &impl Store) {
    let original = license(1);
    store.create(&original, None, &audit_for(&original, "license.minted", 1)).await.unwrap();

    let mut revoked = original.clone();
    revoked.state = LicenseState::Revoked;
    revoked.revoke_reason = Some("chargeback".into());
    revoked.version = 2;
    revoked.updated_at = original.updated_at + Duration::hours(1);
    revoked.expires_at = None;
    revoked.token = "re-signed".into();
    store.update(&revoked, 1, &audit_for(&revoked, "license.revoked", 2)).await.unwrap();
    assert_eq!(store.find_by_key(&original.key).await.unwrap(), Some(revoked.clone()));

    let mut stale = original.clone();
    stale.version = 2;
    stale.notes = Some("stale write".into());
    let error = store.update(&stale, 1, &audit_for(&stale, "license.suspended", 3)).await.unwrap_err();
    assert!(matches!(error, UpdateLicenseError::Conflict), "{error:?}");
    assert_eq!(store.find_by_key(&original.key).await.unwrap(), Some(revoked));

    let missing = license(9);
    let error = store.update(&missing, 1, &audit_for(&missing, "license.suspended", 4)).await.unwrap_err();
    assert!(matches!(error, UpdateLicenseError::NotFound(_)), "{error:?}");
    assert_eq!(audit_count(store).await, 2, "failed updates write no audit event");
}

pub async fn concurrent_updates_from_one_version_apply_once(store: &impl Store) {
    let original = license(1);
    store.create(&original, None, &audit_for(&original, "license.minted", 1)).await.unwrap();
    let attempts: Vec<_> = (0..16u64)
        .map(|n| {
            let mut changed = original.clone();
            changed.version = 2;
            changed.notes = Some(format!("writer {n}"));
            changed
        })
        .collect();
    let results = join_all(attempts.iter().enumerate().map(|(n, changed)| async move {
        store.update(changed, 1, &audit_for(changed, "license.suspended", 10 + n as u64)).await
    }))
    .await;
    assert_eq!(results.iter().filter(|result| result.is_ok()).count(), 1, "{results:?}");
    assert!(results.iter().filter_map(|r| r.as_ref().err()).all(|e| matches!(e, UpdateLicenseError::Conflict)));
    let stored = store.find_by_key(&original.key).await.unwrap().unwrap();
    assert_eq!(stored.version, 2);
    assert_eq!(audit_count(store).await, 2);
}

pub async fn filters_licenses(store: &impl Store) {
    let mut all = Vec::new();
    for n in 1..=6 {
        let mut license = license(n);
        match n {
            1 => license.product = "otherapp".into(),
            2 => license.source = "gumroad".into(),
            3 => license.state = LicenseState::Suspended,
            4 => license.state = LicenseState::Revoked,
            5 => license.expires_at = Some(T0 - Duration::days(1)),
            _ => {
                license.email = EmailAddress::parse("Jane.Doe@Example.com").unwrap();
                license.expires_at = Some(T0 + Duration::days(10));
            }
        }
        store.create(&license, None, &audit_for(&license, "license.minted", n)).await.unwrap();
        all.push(license);
    }
    let base = LicenseFilter::all(T0);
    let cases = [
        (LicenseFilter { product: Some("otherapp".into()), ..base.clone() }, 1),
        (LicenseFilter { source: Some("gumroad".into()), ..base.clone() }, 1),
        (LicenseFilter { status: Some(LicenseStatus::Suspended), ..base.clone() }, 1),
        (LicenseFilter { status: Some(LicenseStatus::Revoked), ..base.clone() }, 1),
        (LicenseFilter { status: Some(LicenseStatus::Expired), ..base.clone() }, 1),
        (LicenseFilter { status: Some(LicenseStatus::Active), ..base.clone() }, 3),
        (LicenseFilter { email: Some(EmailAddress::parse("jane.doe@example.com").unwrap()), ..base.clone() }, 1),
        (LicenseFilter { query: Some("NUMBER3".into()), ..base.clone() }, 1),
        (LicenseFilter { query: Some("tst-core-0000".into()), ..base.clone() }, 6),
        (LicenseFilter { query: Some("100%_".into()), ..base.clone() }, 0),
        (LicenseFilter { product: Some("datatools".into()), status: Some(LicenseStatus::Active), ..base.clone() }, 2),
        (LicenseFilter { expires_before: Some(T0 + Duration::days(14)), ..base.clone() }, 1),
        (LicenseFilter { expires_before: Some(T0 + Duration::days(7)), ..base.clone() }, 0),
        (base.clone(), 6),
    ];
    for (filter, count) in cases {
        let page = store.list(&filter, &PageRequest::first(100)).await.unwrap();
        let mut found: Vec<String> = page.items.iter().map(|license| license.key.to_string()).collect();
        found.sort();
        let mut expected: Vec<String> =
            all.iter().filter(|license| filter.matches(license)).map(|license| license.key.to_string()).collect();
        expected.sort();
        assert_eq!(found.len(), count, "{filter:?}: {found:?}");
        assert_eq!(found, expected, "{filter:?} disagrees with LicenseFilter::matches");
    }
}

pub async fn paginates_newest_first_without_gaps(store: &impl Store) {
    for n in 1..=25 {
        let license = license(n);
        store.create(&license, None, &audit_for(&license, "license.minted", n)).await.unwrap();
    }
    // All of them, and a substring every key shares (a search reads its page differently).
    for (filter, expected) in [(LicenseFilter::all(T0), 25), (LicenseFilter::search("tst-core", T0), 25)] {
        let mut seen = Vec::new();
        let mut page = PageRequest::first(10);
        loop {
            let result = store.list(&filter, &page).await.unwrap();
            assert!(result.items.len() <= 10);
            seen.extend(result.items.iter().map(|license| license.issued_at));
            match result.next_cursor {
                Some(cursor) => page = PageRequest::new(Some(10), Some(cursor)),
                None => break,
            }
        }
        assert_eq!(seen.len(), expected, "{filter:?}: every license exactly once");
        assert!(seen.windows(2).all(|pair| pair[0] > pair[1]), "{filter:?}: newest first");
    }
    let one = store.list(&LicenseFilter::search("BUYER7@", T0), &PageRequest::first(10)).await.unwrap();
    assert_eq!(one.items.iter().map(|license| license.issued_at).collect::<Vec<_>>(), [license(7).issued_at]);
}

pub async fn records_audit_events_with_their_changes(store: &impl Store) {
    let first = license(1);
    let second = license(2);
    store.create(&first, None, &audit_for(&first, "license.minted", 1)).await.unwrap();
    store.create(&second, None, &audit_for(&second, "license.minted", 2)).await.unwrap();
    let mut suspended = first.clone();
    suspended.state = LicenseState::Suspended;
    suspended.version = 2;
    suspended.updated_at = first.updated_at + Duration::minutes(30);
    let mut event = audit_for(&suspended, "license.suspended", 3);
    event.actor = Actor::Storefront("gumroad".into());
    store.update(&suspended, 1, &event).await.unwrap();

    let of_first = AuditFilter {
        entity_type: Some("license".into()),
        entity_id: Some(first.key.to_string()),
        ..Default::default()
    };
    let events = store.list_audit(&of_first, &PageRequest::first(50)).await.unwrap().items;
    let actions: Vec<_> = events.iter().map(|event| event.action.as_str()).collect();
    assert_eq!(actions, ["license.suspended", "license.minted"], "newest first");
    assert_eq!(events[0], event, "stored as written, details included");

    let by_gumroad = AuditFilter { actor: Some("storefront:gumroad".into()), ..Default::default() };
    assert_eq!(store.list_audit(&by_gumroad, &PageRequest::first(50)).await.unwrap().items.len(), 1);
    let since = AuditFilter { since: Some(first.updated_at + Duration::minutes(2)), ..Default::default() };
    assert_eq!(store.list_audit(&since, &PageRequest::first(50)).await.unwrap().items.len(), 1);
    let until = AuditFilter { until: Some(first.updated_at + Duration::minutes(2)), ..Default::default() };
    assert_eq!(store.list_audit(&until, &PageRequest::first(50)).await.unwrap().items.len(), 2);

    let first_page = store.list_audit(&AuditFilter::default(), &PageRequest::first(2)).await.unwrap();
    assert_eq!(first_page.items.len(), 2);
    let cursor = first_page.next_cursor.expect("a second page");
    let rest = store.list_audit(&AuditFilter::default(), &PageRequest::new(Some(2), Some(cursor))).await.unwrap();
    assert_eq!(rest.items.len(), 1);
    assert_eq!(rest.next_cursor, None);

    let sign_in = AuditEvent {
        id: uuid::Builder::from_unix_timestamp_millis(9_000_000, &[7; 10]).into_uuid(),
        at: first.updated_at + Duration::hours(2),
        actor: Actor::Admin,
        action: "console.signed_in".into(),
        entity_type: "console".into(),
        entity_id: "127.0.0.1".into(),
        details: serde_json::json!({"user_agent": "test"}),
    };
    store.append(&sign_in).await.unwrap();
    let console = AuditFilter { entity_type: Some("console".into()), ..Default::default() };
    assert_eq!(store.list_audit(&console, &PageRequest::first(50)).await.unwrap().items, [sign_in]);
}

pub async fn answers_ping(store: &impl Store) {
    store.ping().await.unwrap();
}

async fn seats_used(store: &impl Store, key: &LicenseKey) -> u32 {
    store.find_for_machine(key, None).await.unwrap().expect("license").seats_used
}

pub async fn takes_seats_up_to_the_limit_exactly_under_concurrency(store: &impl Store) {
    let stored = license(1); // 3 seats
    store.create(&stored, None, &audit_for(&stored, "license.minted", 1)).await.unwrap();
    let machines: Vec<_> = (0..64u64).map(|n| activation(&stored, n, &format!("machine-{n}"))).collect();
    let stored = &stored;
    let outcomes = join_all(machines.iter().enumerate().map(|(n, machine)| async move {
        store.take_seat(machine, None, &audit_for(stored, "activation.created", 10 + n as u64)).await.unwrap()
    }))
    .await;
    let taken = outcomes.iter().filter(|outcome| matches!(outcome, SeatOutcome::Taken { .. })).count();
    let refused = outcomes.iter().filter(|outcome| matches!(outcome, SeatOutcome::NoSeatLeft)).count();
    assert_eq!((taken, refused), (3, 61), "{outcomes:?}");
    let mut counts: Vec<u32> = outcomes
        .iter()
        .filter_map(|outcome| match outcome {
            SeatOutcome::Taken { seats_used } => Some(*seats_used),
            _ => None,
        })
        .collect();
    counts.sort();
    assert_eq!(counts, [1, 2, 3], "each winner saw its own seat counted");
    assert_eq!(store.live_activations(stored.id).await.unwrap().len(), 3);
    assert_eq!(seats_used(store, &stored.key).await, 3);
    assert_eq!(audit_count(store).await, 1 + 3, "only the winners were audited");
}

pub async fn one_machine_holds_one_seat_even_when_racing(store: &impl Store) {
    let stored = license(1);
    store.create(&stored, None, &audit_for(&stored, "license.minted", 1)).await.unwrap();
    let attempts: Vec<_> = (0..16u64).map(|n| activation(&stored, n, "same-machine")).collect();
    let stored = &stored;
    let outcomes = join_all(attempts.iter().enumerate().map(|(n, attempt)| async move {
        store.take_seat(attempt, None, &audit_for(stored, "activation.created", 10 + n as u64)).await.unwrap()
    }))
    .await;
    let winners: Vec<_> = attempts
        .iter()
        .zip(&outcomes)
        .filter(|(_, outcome)| matches!(outcome, SeatOutcome::Taken { .. }))
        .map(|(attempt, _)| attempt.id)
        .collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    for outcome in &outcomes {
        match outcome {
            SeatOutcome::Taken { seats_used } => assert_eq!(*seats_used, 1),
            SeatOutcome::AlreadyActive(existing) => assert_eq!(existing.id, winners[0]),
            SeatOutcome::NoSeatLeft | SeatOutcome::ChurnLimited => panic!("a seat was free: {outcomes:?}"),
        }
    }
    assert_eq!(seats_used(store, &stored.key).await, 1);
    let fingerprint = Fingerprint::parse("same-machine").unwrap();
    let view = store.find_for_machine(&stored.key, Some(&fingerprint)).await.unwrap().unwrap();
    assert_eq!(view.activation.map(|activation| activation.id), Some(winners[0]));
}

/// Many machines at once on a license with seats to spare, some of them
/// the same machine racing itself: every distinct machine gets a seat and its
/// own count, the racing one exactly one. (An adapter may claim concurrent
/// seats of one license together; each caller still hears its own outcome.)
pub async fn concurrent_activations_of_one_license_each_get_their_own_seat(store: &impl Store) {
    let mut stored = license(1);
    stored.seats = 100;
    store.create(&stored, None, &audit_for(&stored, "license.minted", 1)).await.unwrap();
    let mut machines: Vec<_> = (0..48u64).map(|n| activation(&stored, n, &format!("machine-{n}"))).collect();
    machines.extend((48..56u64).map(|n| activation(&stored, n, "same-machine")));
    let stored = &stored;
    // A churn cap not reached (no machine was ever deactivated) is no obstacle.
    let churn = Some(tessera_domain::license::ChurnLimit { since: T0, limit: 2 });
    let outcomes = join_all(machines.iter().enumerate().map(|(n, machine)| async move {
        store.take_seat(machine, churn, &audit_for(stored, "activation.created", 100 + n as u64)).await.unwrap()
    }))
    .await;
    let mut counts = Vec::new();
    let mut same_machine_winner = None;
    for (machine, outcome) in machines.iter().zip(&outcomes) {
        match outcome {
            SeatOutcome::Taken { seats_used } => {
                counts.push(*seats_used);
                if machine.fingerprint.as_str() == "same-machine" {
                    assert_eq!(same_machine_winner.replace(machine.id), None, "one seat for one machine: {outcomes:?}");
                }
            }
            SeatOutcome::AlreadyActive(_) => assert_eq!(machine.fingerprint.as_str(), "same-machine"),
            other => panic!("seats were free: {other:?}"),
        }
    }
    let same_machine_winner = same_machine_winner.expect("the racing machine got a seat");
    for (machine, outcome) in machines.iter().zip(&outcomes) {
        if let SeatOutcome::AlreadyActive(existing) = outcome {
            assert_eq!(existing.id, same_machine_winner, "{} saw the winner", machine.id);
        }
    }
    counts.sort();
    assert_eq!(counts, (1..=49).collect::<Vec<u32>>(), "each taken seat counted once, in some order");
    assert_eq!(seats_used(store, &stored.key).await, 49);
    assert_eq!(store.live_activations(stored.id).await.unwrap().len(), 49);
    assert_eq!(audit_count(store).await, 1 + 49, "every taken seat audited once, nothing else");

    // Two releases reach the cap: a crowd of new machines is refused, each told why.
    let at = T0 + Duration::hours(1);
    for (n, machine) in machines.iter().take(2).enumerate() {
        assert!(store
            .release_seat(machine.id, at, &audit_for(stored, "activation.deactivated", 200 + n as u64))
            .await
            .unwrap());
    }
    let latecomers: Vec<_> = (60..80u64).map(|n| activation(stored, n, &format!("machine-{n}"))).collect();
    let outcomes = join_all(latecomers.iter().enumerate().map(|(n, machine)| async move {
        store.take_seat(machine, churn, &audit_for(stored, "activation.created", 300 + n as u64)).await.unwrap()
    }))
    .await;
    assert!(outcomes.iter().all(|outcome| *outcome == SeatOutcome::ChurnLimited), "{outcomes:?}");
    assert_eq!(seats_used(store, &stored.key).await, 47);
    assert_eq!(audit_count(store).await, 1 + 49 + 2);
}

pub async fn releasing_frees_the_seat_once(store: &impl Store) {
    let stored = license(1);
    store.create(&stored, None, &audit_for(&stored, "license.minted", 1)).await.unwrap();
    let machines: Vec<_> = (0..3u64).map(|n| activation(&stored, n, &format!("machine-{n}"))).collect();
    for (n, machine) in machines.iter().enumerate() {
        let outcome = store.take_seat(machine, None, &audit_for(&stored, "activation.created", 10 + n as u64)).await;
        assert!(matches!(outcome.unwrap(), SeatOutcome::Taken { .. }));
    }
    let fourth = activation(&stored, 3, "machine-3");
    assert_eq!(store.take_seat(&fourth, None, &audit_for(&stored, "x", 20)).await.unwrap(), SeatOutcome::NoSeatLeft);

    let at = T0 + Duration::days(2);
    let releases: Vec<_> = (0..8u64).map(|n| audit_for(&stored, "activation.deactivated", 30 + n)).collect();
    let released = join_all(releases.iter().map(|audit| store.release_seat(machines[0].id, at, audit))).await;
    assert_eq!(released.iter().filter(|result| *result.as_ref().unwrap()).count(), 1, "released once: {released:?}");
    assert_eq!(seats_used(store, &stored.key).await, 2);
    assert!(!store.release_seat(uuid::Uuid::nil(), at, &audit_for(&stored, "x", 40)).await.unwrap());

    let gone = store.find_for_machine(&stored.key, Some(&machines[0].fingerprint)).await.unwrap().unwrap();
    assert_eq!(gone.activation, None, "a released machine holds no live activation");
    let history = store.find_by_activation(machines[0].id).await.unwrap().unwrap();
    assert_eq!(history.activation.unwrap().deactivated_at, Some(at));
    assert_eq!(history.license.key, stored.key);
    assert!(store.find_by_activation(uuid::Uuid::nil()).await.unwrap().is_none());

    assert!(matches!(
        store.take_seat(&fourth, None, &audit_for(&stored, "x", 50)).await.unwrap(),
        SeatOutcome::Taken { seats_used: 3 }
    ));
    // The same machine may come back after its release: a new live activation.
    let again = activation(&stored, 9, "machine-0");
    assert_eq!(store.take_seat(&again, None, &audit_for(&stored, "x", 51)).await.unwrap(), SeatOutcome::NoSeatLeft);
    let live: Vec<_> = store.live_activations(stored.id).await.unwrap().into_iter().map(|a| a.id).collect();
    assert_eq!(live, [machines[1].id, machines[2].id, fourth.id], "oldest first");
    assert_eq!(audit_count(store).await, 1 + 3 + 1 + 1);
}

pub async fn touch_updates_only_live_activations(store: &impl Store) {
    let stored = license(1);
    store.create(&stored, None, &audit_for(&stored, "license.minted", 1)).await.unwrap();
    let machine = activation(&stored, 1, "machine-1");
    store.take_seat(&machine, None, &audit_for(&stored, "activation.created", 2)).await.unwrap();
    let later = T0 + Duration::days(5);
    assert!(store.touch(machine.id, later, Some("3.0.1")).await.unwrap());
    let view = store.find_for_machine(&stored.key, Some(&machine.fingerprint)).await.unwrap().unwrap();
    let touched = view.activation.unwrap();
    assert_eq!((touched.last_seen_at, touched.app_version.as_deref()), (later, Some("3.0.1")));
    assert!(store.touch(machine.id, later, None).await.unwrap());
    let kept = store.find_by_activation(machine.id).await.unwrap().unwrap().activation.unwrap();
    assert_eq!(kept.app_version.as_deref(), Some("3.0.1"), "no version given keeps the last one");

    store.release_seat(machine.id, later, &audit_for(&stored, "activation.deactivated", 3)).await.unwrap();
    assert!(!store.touch(machine.id, later, None).await.unwrap());
    assert!(!store.touch(uuid::Uuid::nil(), later, None).await.unwrap());
}

pub async fn no_seat_for_a_license_that_is_not_active(store: &impl Store) {
    let mut suspended = license(1);
    suspended.state = LicenseState::Suspended;
    store.create(&suspended, None, &audit_for(&suspended, "license.minted", 1)).await.unwrap();
    let machine = activation(&suspended, 1, "machine-1");
    assert_eq!(store.take_seat(&machine, None, &audit_for(&suspended, "x", 2)).await.unwrap(), SeatOutcome::NoSeatLeft);
    assert_eq!(seats_used(store, &suspended.key).await, 0);
    assert!(store.live_activations(suspended.id).await.unwrap().is_empty());
}

pub async fn lifecycle_updates_keep_the_seat_count(store: &impl Store) {
    let original = license(1);
    store.create(&original, None, &audit_for(&original, "license.minted", 1)).await.unwrap();
    for n in 0..2u64 {
        let machine = activation(&original, n, &format!("machine-{n}"));
        store.take_seat(&machine, None, &audit_for(&original, "activation.created", 10 + n)).await.unwrap();
    }
    let mut suspended = original.clone();
    suspended.state = LicenseState::Suspended;
    suspended.version = 2;
    store.update(&suspended, 1, &audit_for(&suspended, "license.suspended", 20)).await.unwrap();
    assert_eq!(seats_used(store, &original.key).await, 2, "an update of the license does not reset its seats");
}

pub async fn the_churn_cap_is_judged_with_the_seat(store: &impl Store) {
    let mut stored = license(1);
    stored.seats = 50;
    store.create(&stored, None, &audit_for(&stored, "license.minted", 1)).await.unwrap();
    let at = T0 + Duration::days(2);
    for n in 0..3u64 {
        let machine = activation(&stored, n, &format!("old-{n}"));
        store.take_seat(&machine, None, &audit_for(&stored, "x", 10 + n)).await.unwrap();
        store.release_seat(machine.id, at, &audit_for(&stored, "y", 20 + n)).await.unwrap();
    }
    let window = |since| Some(tessera_domain::license::ChurnLimit { since, limit: 3 });
    let capped = activation(&stored, 7, "new-0");
    let outcome = store.take_seat(&capped, window(at), &audit_for(&stored, "z", 30)).await.unwrap();
    assert_eq!(outcome, SeatOutcome::ChurnLimited, "3 deactivations in the window reach a cap of 3");
    let later = window(at + Duration::seconds(1));
    assert!(
        matches!(
            store.take_seat(&capped, later, &audit_for(&stored, "z", 31)).await.unwrap(),
            SeatOutcome::Taken { .. }
        ),
        "outside the window"
    );
}

pub async fn records_storefront_events_exactly_as_received(store: &impl Store) {
    let mut large = recorded_event(1);
    large.body = (0..1024 * 1024).map(|n| (n % 251) as u8).collect();
    let events: Vec<_> = [large].into_iter().chain((2..=10).map(recorded_event)).collect();
    // Ten deliveries at once: every one is stored.
    let stored = join_all(events.iter().map(|event| store.record(event))).await;
    assert!(stored.iter().all(Result::is_ok), "{stored:?}");
    for event in &events {
        assert_eq!(store.find_event(event.id).await.unwrap().as_ref(), Some(event), "byte for byte");
    }
    assert_eq!(store.find_event(uuid::Uuid::nil()).await.unwrap(), None);
}

pub async fn finishes_events_and_counts_attempts(store: &impl Store) {
    let event = recorded_event(1);
    store.record(&event).await.unwrap();
    let failed = EventOutcome {
        status: EventStatus::Failed,
        kind: Some("sale".into()),
        dedupe_key: Some("sale:S1".into()),
        error: Some("no product mapping for gumroad product P".into()),
        license_key: None,
        processed_at: T0 + Duration::minutes(1),
    };
    assert!(store.finish(event.id, &failed, &delivery_audit(900)).await.unwrap());
    let processed = EventOutcome {
        status: EventStatus::Processed,
        error: None,
        license_key: Some("DT1-CORE-AAAAA-BBBBB".into()),
        processed_at: T0 + Duration::minutes(5),
        ..failed.clone()
    };
    assert!(store.finish(event.id, &processed, &delivery_audit(901)).await.unwrap());
    let found = store.find_event(event.id).await.unwrap().unwrap();
    assert_eq!((found.status, found.attempts), (EventStatus::Processed, 2));
    assert_eq!((found.error, found.license_key.as_deref()), (None, Some("DT1-CORE-AAAAA-BBBBB")));
    assert_eq!((found.kind.as_deref(), found.dedupe_key.as_deref()), (Some("sale"), Some("sale:S1")));
    assert_eq!(found.processed_at, Some(T0 + Duration::minutes(5)));
    assert_eq!(found.body, event.body, "the body never changes");
    assert!(!store.finish(uuid::Uuid::nil(), &processed, &delivery_audit(902)).await.unwrap());
    assert_eq!(audit_count(store).await, 2, "one audit event per recorded outcome");
}

pub async fn lists_events_by_storefront_and_status_newest_first(store: &impl Store) {
    for n in 1..=7 {
        let mut event = recorded_event(n);
        if n == 7 {
            event.storefront = "checkout".into();
        }
        store.record(&event).await.unwrap();
        if n % 2 == 0 {
            let outcome = EventOutcome {
                status: EventStatus::Failed,
                kind: None,
                dedupe_key: None,
                error: Some("boom".into()),
                license_key: None,
                processed_at: T0,
            };
            store.finish(event.id, &outcome, &delivery_audit(903 + n)).await.unwrap();
        }
    }
    let received = |page: &tessera_domain::page::Page<tessera_domain::storefront::RecordedEvent>| {
        page.items.iter().map(|event| event.received_at).collect::<Vec<_>>()
    };
    let failed = EventFilter { status: Some(EventStatus::Failed), ..Default::default() };
    let first = store.list_events(&failed, &PageRequest::first(2)).await.unwrap();
    assert_eq!(received(&first), [T0 + Duration::seconds(6), T0 + Duration::seconds(4)]);
    let rest = store.list_events(&failed, &PageRequest::new(Some(2), first.next_cursor.clone())).await.unwrap();
    assert_eq!(received(&rest), [T0 + Duration::seconds(2)]);
    assert_eq!(rest.next_cursor, None);
    let checkout = EventFilter { storefront: Some("checkout".into()), ..Default::default() };
    assert_eq!(store.list_events(&checkout, &PageRequest::first(50)).await.unwrap().items.len(), 1);
    assert_eq!(store.list_events(&EventFilter::default(), &PageRequest::first(50)).await.unwrap().items.len(), 7);
}

pub async fn applies_a_once_only_change_once_under_concurrency(store: &impl Store) {
    let original = license(1);
    store.create(&original, None, &audit_for(&original, "license.minted", 1)).await.unwrap();
    // Sixteen deliveries of one charge race; each read version 1 and writes version 2.
    let attempts: Vec<_> = (0..16u64)
        .map(|n| {
            let mut extended = original.clone();
            extended.version = 2;
            extended.expires_at = original.expires_at.map(|at| at + Duration::days(31));
            extended.notes = Some(format!("writer {n}"));
            extended
        })
        .collect();
    let results = join_all(attempts.iter().enumerate().map(|(n, changed)| async move {
        store.update_once(changed, 1, "gumroad:charge:C1", &audit_for(changed, "license.renewed", 10 + n as u64)).await
    }))
    .await;
    assert_eq!(results.iter().filter(|result| result.is_ok()).count(), 1, "{results:?}");
    let errors = results.iter().filter_map(|result| result.as_ref().err());
    assert!(errors.into_iter().all(|e| matches!(e, UpdateLicenseError::AlreadyApplied | UpdateLicenseError::Conflict)));
    // The same charge later, from the current version: still refused, nothing written.
    let mut again = store.find_by_key(&original.key).await.unwrap().unwrap();
    again.version = 3;
    let error = store.update_once(&again, 2, "gumroad:charge:C1", &audit_for(&again, "x", 99)).await.unwrap_err();
    assert!(matches!(error, UpdateLicenseError::AlreadyApplied), "{error:?}");
    assert_eq!(store.find_by_key(&original.key).await.unwrap().unwrap().version, 2);
    // A version conflict does not burn the effect: it applies on the next try.
    let mut stale = again.clone();
    stale.version = 2;
    let error = store.update_once(&stale, 1, "gumroad:charge:C2", &audit_for(&stale, "x", 100)).await.unwrap_err();
    assert!(matches!(error, UpdateLicenseError::Conflict), "{error:?}");
    store.update_once(&again, 2, "gumroad:charge:C2", &audit_for(&again, "license.renewed", 101)).await.unwrap();
    assert_eq!(audit_count(store).await, 3, "minted + two charges");
}

pub async fn finds_a_license_by_its_subscription(store: &impl Store) {
    let mut followed = license(1);
    followed.source = "gumroad".into();
    followed.subscription = Some(Subscription { id: "sub-1".into(), renewing: true });
    store.create(&followed, None, &audit_for(&followed, "license.minted", 1)).await.unwrap();
    let found = store.find_by_subscription("gumroad", "sub-1").await.unwrap();
    assert_eq!(found.as_ref(), Some(&followed));
    assert_eq!(store.find_by_subscription("checkout", "sub-1").await.unwrap(), None, "per source");
    assert_eq!(store.find_by_subscription("gumroad", "sub-2").await.unwrap(), None);

    let mut twin = license(2);
    twin.source = "gumroad".into();
    twin.subscription = Some(Subscription { id: "sub-1".into(), renewing: true });
    let error = store.create(&twin, None, &audit_for(&twin, "license.minted", 2)).await.unwrap_err();
    assert!(matches!(error, CreateLicenseError::SubscriptionTaken), "{error:?}");

    let mut stopped = followed.clone();
    stopped.subscription = Some(Subscription { id: "sub-1".into(), renewing: false });
    stopped.version = 2;
    store.update(&stopped, 1, &audit_for(&stopped, "subscription.stopped", 3)).await.unwrap();
    let found = store.find_by_subscription("gumroad", "sub-1").await.unwrap().unwrap();
    assert_eq!(found.subscription, Some(Subscription { id: "sub-1".into(), renewing: false }));
}

pub async fn queues_a_delivery_once_per_dedupe_key(store: &impl Store) {
    let owner = license(1);
    let first = tessera_domain::mail::Delivery { dedupe_key: Some("license:1:issued".into()), ..delivery(&owner, 1) };
    let twins: Vec<_> = (2..12)
        .map(|n| tessera_domain::mail::Delivery { dedupe_key: first.dedupe_key.clone(), ..delivery(&owner, n) })
        .collect();
    let results = join_all(
        std::iter::once(&first)
            .chain(twins.iter())
            .enumerate()
            .map(|(n, d)| async move { store.enqueue(d, &delivery_audit(n as u64)).await }),
    )
    .await;
    let new: Vec<_> = results.iter().filter(|r| matches!(r, Ok(Enqueued::New(_)))).collect();
    assert_eq!(new.len(), 1, "{results:?}");
    let winner = new[0].as_ref().unwrap().delivery().id;
    for result in &results {
        assert_eq!(result.as_ref().unwrap().delivery().id, winner, "every caller sees the one delivery");
    }
    // Without a dedupe key, every delivery is new.
    store.enqueue(&delivery(&owner, 20), &delivery_audit(20)).await.unwrap();
    store.enqueue(&delivery(&owner, 21), &delivery_audit(21)).await.unwrap();
    let all = store.list_deliveries(&DeliveryFilter::default(), &PageRequest::first(50)).await.unwrap();
    assert_eq!(all.items.len(), 3);
    assert_eq!(all.items[0].id, delivery(&owner, 21).id, "newest first");
    assert_eq!(store.find_delivery(delivery(&owner, 20).id).await.unwrap(), Some(delivery(&owner, 20)));
    assert_eq!(audit_count(store).await, 3, "one audit event per stored delivery");
}

pub async fn creates_a_license_with_its_first_delivery_or_neither(store: &impl Store) {
    let owner = license(1);
    let email = tessera_domain::mail::Delivery { dedupe_key: Some("license:1:issued".into()), ..delivery(&owner, 1) };
    store
        .create_license_with_delivery(&owner, None, &audit_for(&owner, "license.minted", 1), &email, &delivery_audit(2))
        .await
        .unwrap();
    assert_eq!(store.find_by_key(&owner.key).await.unwrap().as_ref(), Some(&owner));
    assert_eq!(store.find_delivery(email.id).await.unwrap(), Some(email.clone()));
    assert_eq!(audit_count(store).await, 2, "the license's and the delivery's audit events");

    // The same key again: nothing of the second attempt is stored.
    let twin = tessera_domain::license::License { id: license(2).id, ..owner.clone() };
    let second = delivery(&twin, 3);
    let error = store
        .create_license_with_delivery(&twin, None, &audit_for(&twin, "license.minted", 3), &second, &delivery_audit(4))
        .await
        .unwrap_err();
    assert!(matches!(error, CreateLicenseError::KeyTaken(_)), "{error:?}");
    assert_eq!(store.find_delivery(second.id).await.unwrap(), None);
    assert_eq!(audit_count(store).await, 2);

    // A sale delivered twice: the second mint under the same idempotency key stores nothing.
    let record = IdempotencyRecord { key: IdempotencyKey::parse("gumroad:sale-7").unwrap(), request: "{}".into() };
    let sale = license(5);
    let sale_email = delivery(&sale, 5);
    store
        .create_license_with_delivery(
            &sale,
            Some(&record),
            &audit_for(&sale, "license.minted", 5),
            &sale_email,
            &delivery_audit(6),
        )
        .await
        .unwrap();
    let again = license(6);
    let again_email = delivery(&again, 7);
    let error = store
        .create_license_with_delivery(
            &again,
            Some(&record),
            &audit_for(&again, "license.minted", 7),
            &again_email,
            &delivery_audit(8),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, CreateLicenseError::IdempotencyKeyTaken), "{error:?}");
    assert_eq!(store.find_by_key(&again.key).await.unwrap(), None);
    assert_eq!(store.find_delivery(again_email.id).await.unwrap(), None);
    assert_eq!(audit_count(store).await, 4, "only the first sale's two events");
}

pub async fn claims_each_due_delivery_once_under_concurrency(store: &impl Store) {
    let owner = license(1);
    for n in 1..=10 {
        store.enqueue(&delivery(&owner, n), &delivery_audit(n)).await.unwrap();
    }
    let later = tessera_domain::mail::Delivery { next_attempt_at: T0 + Duration::hours(1), ..delivery(&owner, 11) };
    store.enqueue(&later, &delivery_audit(11)).await.unwrap();
    let now = T0 + Duration::minutes(1);
    let until = now + Duration::minutes(2);
    // Eight workers claim at once, three each at most.
    let claims = join_all((0..8).map(|_| store.claim_due(now, until, 3))).await;
    let mut claimed: Vec<_> = claims.into_iter().flat_map(|claim| claim.unwrap()).collect();
    claimed.sort_by_key(|d| d.id);
    let ids: Vec<_> = claimed.iter().map(|d| d.id).collect();
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(ids, unique, "no delivery claimed twice");
    assert_eq!(ids.len(), 10, "every due delivery claimed, the later one not");
    assert!(claimed.iter().all(|d| d.status == DeliveryStatus::Sending && d.attempts == 1));
    assert!(claimed.iter().all(|d| d.claimed_until == Some(until)));
    assert!(store.claim_due(now, until, 50).await.unwrap().is_empty());
    let sending = DeliveryFilter { status: Some(DeliveryStatus::Sending), ..Default::default() };
    assert_eq!(store.list_deliveries(&sending, &PageRequest::first(50)).await.unwrap().items.len(), 10);
}

pub async fn settles_only_the_claimed_attempt(store: &impl Store) {
    let owner = license(1);
    let queued = delivery(&owner, 1);
    store.enqueue(&queued, &delivery_audit(1)).await.unwrap();
    let now = T0 + Duration::minutes(1);
    let claimed = store.claim_due(now, now + Duration::minutes(2), 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    let retry = DeliveryOutcome {
        status: DeliveryStatus::Pending,
        next_attempt_at: now + Duration::seconds(30),
        last_error: Some("HTTP 500".into()),
        provider_message_id: None,
        at: now,
    };
    assert!(!store.settle(queued.id, 2, &retry, &delivery_audit(2)).await.unwrap(), "wrong attempt");
    assert!(store.settle(queued.id, 1, &retry, &delivery_audit(3)).await.unwrap());
    assert!(!store.settle(queued.id, 1, &retry, &delivery_audit(4)).await.unwrap(), "no longer sending");
    assert!(store.claim_due(now, now + Duration::minutes(2), 10).await.unwrap().is_empty(), "not due yet");
    let later = now + Duration::seconds(30);
    let again = store.claim_due(later, later + Duration::minutes(2), 10).await.unwrap();
    assert_eq!(again.iter().map(|d| d.attempts).collect::<Vec<_>>(), [2]);
    assert_eq!(again[0].last_error.as_deref(), Some("HTTP 500"));
    let sent = DeliveryOutcome {
        status: DeliveryStatus::Sent,
        next_attempt_at: later,
        last_error: None,
        provider_message_id: Some("pm-123".into()),
        at: later,
    };
    assert!(store.settle(queued.id, 2, &sent, &delivery_audit(5)).await.unwrap());
    let found = store.find_delivery(queued.id).await.unwrap().unwrap();
    assert_eq!((found.status, found.attempts), (DeliveryStatus::Sent, 2));
    assert_eq!((found.sent_at, found.provider_message_id.as_deref()), (Some(later), Some("pm-123")));
    assert_eq!((found.last_error, found.claimed_until), (None, None));
    assert!(store.claim_due(later + Duration::days(1), later + Duration::days(2), 10).await.unwrap().is_empty());
    assert_eq!(audit_count(store).await, 3, "queued + two settled attempts");
}

pub async fn fails_deliveries_abandoned_mid_send(store: &impl Store) {
    let owner = license(1);
    store.enqueue(&delivery(&owner, 1), &delivery_audit(1)).await.unwrap();
    store.enqueue(&delivery(&owner, 2), &delivery_audit(2)).await.unwrap();
    let now = T0 + Duration::minutes(1);
    store.claim_due(now, now + Duration::minutes(2), 1).await.unwrap();
    assert!(store.fail_abandoned(now + Duration::minutes(1), "interrupted").await.unwrap().is_empty(), "claim live");
    let failed = store.fail_abandoned(now + Duration::minutes(3), "interrupted").await.unwrap();
    assert_eq!(failed.iter().map(|d| d.id).collect::<Vec<_>>(), [delivery(&owner, 1).id]);
    let found = store.find_delivery(delivery(&owner, 1).id).await.unwrap().unwrap();
    assert_eq!((found.status, found.last_error.as_deref()), (DeliveryStatus::Failed, Some("interrupted")));
    let pending = store.find_delivery(delivery(&owner, 2).id).await.unwrap().unwrap();
    assert_eq!(pending.status, DeliveryStatus::Pending, "never claimed, untouched");
    // The stopped worker's late settle changes nothing.
    let sent = DeliveryOutcome {
        status: DeliveryStatus::Sent,
        next_attempt_at: now,
        last_error: None,
        provider_message_id: None,
        at: now,
    };
    assert!(!store.settle(found.id, 1, &sent, &delivery_audit(3)).await.unwrap());
}

pub async fn reschedules_only_from_the_expected_status(store: &impl Store) {
    let owner = license(1);
    let queued = delivery(&owner, 1);
    store.enqueue(&queued, &delivery_audit(1)).await.unwrap();
    let now = T0 + Duration::minutes(1);
    store.claim_due(now, now + Duration::minutes(2), 1).await.unwrap();
    let failed = DeliveryOutcome {
        status: DeliveryStatus::Failed,
        next_attempt_at: now,
        last_error: Some("inactive recipient".into()),
        provider_message_id: None,
        at: now,
    };
    store.settle(queued.id, 1, &failed, &delivery_audit(2)).await.unwrap();
    let later = now + Duration::hours(1);
    assert!(!store.reschedule(queued.id, DeliveryStatus::Pending, later, &delivery_audit(3)).await.unwrap());
    assert!(store.reschedule(queued.id, DeliveryStatus::Failed, later, &delivery_audit(4)).await.unwrap());
    assert!(!store.reschedule(uuid::Uuid::nil(), DeliveryStatus::Failed, later, &delivery_audit(5)).await.unwrap());
    let found = store.find_delivery(queued.id).await.unwrap().unwrap();
    assert_eq!((found.status, found.next_attempt_at, found.attempts), (DeliveryStatus::Pending, later, 1));
    assert_eq!(store.claim_due(later, later + Duration::minutes(2), 5).await.unwrap().len(), 1);
    let failed_only = DeliveryFilter { status: Some(DeliveryStatus::Failed), license_key: None };
    assert!(store.list_deliveries(&failed_only, &PageRequest::first(5)).await.unwrap().items.is_empty());
    let by_key = DeliveryFilter { status: None, license_key: Some(owner.key.clone()) };
    assert_eq!(store.list_deliveries(&by_key, &PageRequest::first(5)).await.unwrap().items.len(), 1);
    assert_eq!(audit_count(store).await, 3, "queued + settled + rescheduled");
}

pub async fn counts_for_the_dashboard(store: &impl Store) {
    // Three licenses: one active, one revoked, one past its expiry; two from gumroad.
    let mut licenses = [license(1), license(2), license(3)];
    licenses[1].source = "gumroad".into();
    licenses[1].state = LicenseState::Revoked;
    licenses[2].source = "gumroad".into();
    licenses[2].expires_at = Some(T0 + Duration::days(2));
    for (n, item) in licenses.iter().enumerate() {
        store.create(item, None, &audit_for(item, "license.minted", n as u64)).await.unwrap();
    }
    store
        .take_seat(&activation(&licenses[0], 1, "machine-1"), None, &audit_for(&licenses[0], "activation.created", 10))
        .await
        .unwrap();
    store.enqueue(&delivery(&licenses[0], 1), &delivery_audit(1)).await.unwrap();
    store.record(&recorded_event(1)).await.unwrap();
    let failed = recorded_event(2);
    store.record(&failed).await.unwrap();
    let outcome = EventOutcome {
        status: EventStatus::Failed,
        kind: None,
        dedupe_key: None,
        error: Some("x".into()),
        license_key: None,
        processed_at: T0,
    };
    store.finish(failed.id, &outcome, &delivery_audit(950)).await.unwrap();

    let now = T0 + Duration::days(10);
    let mut stats = store.stats(now).await.unwrap();
    stats.licenses.sort_by_key(|row| (row.source.clone(), row.status.as_str()));
    let row = |source: &str, status| LicenseCount {
        product: "datatools".into(),
        tier: "core".into(),
        status,
        source: source.into(),
        count: 1,
    };
    assert_eq!(
        stats.licenses,
        [
            row("admin", LicenseStatus::Active),
            row("gumroad", LicenseStatus::Expired),
            row("gumroad", LicenseStatus::Revoked)
        ]
    );
    assert_eq!(stats.active_machines, 1);
    assert_eq!((stats.deliveries_pending, stats.deliveries_failed, stats.deliveries_sent), (1, 0, 0));
    assert_eq!((stats.events_failed, stats.events_unprocessed), (1, 1));
    // The fixtures minted at T0 + n minutes: within 30 days of `now`, not within 24 hours.
    assert_eq!((stats.minted_last_24h, stats.minted_last_30d), (0, 3));
    assert_eq!(store.stats(T0 + Duration::hours(1)).await.unwrap().minted_last_24h, 3);
}

pub async fn counts_mints_sales_and_activations_per_day(store: &impl Store) {
    // Day 0: an operator mint and a sale; day 1: a machine; day 2: an import.
    let mut licenses = [license(1), license(2), license(3)];
    licenses[1].source = "gumroad".into();
    licenses[2].source = tessera_domain::license::IMPORT_SOURCE.into();
    licenses[2].issued_at = T0 + Duration::days(2) + Duration::hours(23);
    for (n, item) in licenses.iter().enumerate() {
        store.create(item, None, &audit_for(item, "license.minted", n as u64)).await.unwrap();
    }
    store
        .take_seat(&activation(&licenses[0], 1, "machine-1"), None, &audit_for(&licenses[0], "activation.created", 10))
        .await
        .unwrap();
    let day = |days: i64, mints, sales, activations| DayCounts {
        day: (T0 + Duration::days(days)).date(),
        mints,
        sales,
        activations,
    };
    let all = store.daily_counts(T0 + Duration::hours(5)).await.unwrap();
    assert_eq!(all, [day(0, 2, 1, 0), day(1, 0, 0, 1), day(2, 1, 0, 0)], "from the start of since's day");
    assert_eq!(store.daily_counts(T0 + Duration::days(1)).await.unwrap(), [day(1, 0, 0, 1), day(2, 1, 0, 0)]);
    assert!(store.daily_counts(T0 + Duration::days(3)).await.unwrap().is_empty());
}

pub async fn creates_many_licenses_all_or_nothing(store: &impl Store) {
    let first = license(1);
    store.create(&first, None, &audit_for(&first, "license.minted", 1)).await.unwrap();
    let batch: Vec<_> = (2..=701).map(license).collect();
    let audits: Vec<_> =
        batch.iter().enumerate().map(|(n, l)| audit_for(l, "license.imported", 10 + n as u64)).collect();
    store.create_many(&batch, &audits).await.unwrap();
    let keys: Vec<LicenseKey> = [1, 2, 701, 702].into_iter().map(|n| license(n).key).collect();
    let mut existing = store.existing_keys(&keys).await.unwrap();
    existing.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    assert_eq!(existing, [license(1).key, license(2).key, license(701).key]);
    assert_eq!(store.find_by_key(&license(450).key).await.unwrap(), Some(license(450)));

    // One taken key refuses the whole batch.
    let clashing = vec![license(800), license(1), license(801)];
    let audits: Vec<_> = clashing.iter().map(|l| audit_for(l, "license.imported", 5000)).collect();
    let error = store.create_many(&clashing, &audits).await.unwrap_err();
    assert!(matches!(error, CreateLicenseError::KeyTaken(ref key) if *key == license(1).key), "{error:?}");
    assert_eq!(store.find_by_key(&license(800).key).await.unwrap(), None, "nothing of the batch was stored");
    assert_eq!(audit_count(store).await, 500, "the page limit; 701 events were stored");
    store.create_many(&[], &[]).await.unwrap();
}

pub async fn records_usage_and_reviews_each_flag_once(store: &impl Store) {
    let owner = license(1);
    let machine = uuid::Uuid::from_u128(7);
    for n in 0..3 {
        let event = UsageEvent {
            id: uuid::Builder::from_unix_timestamp_millis(1_000 + n, &[n as u8; 10]).into_uuid(),
            license_key: owner.key.clone(),
            activation_id: machine,
            event: if n == 2 { "export.csv".into() } else { "session.start".into() },
            metadata: serde_json::json!({"n": n, "nested": {"ok": true}}),
            at: T0 + Duration::seconds(n as i64),
        };
        store.record_usage(&event).await.unwrap();
    }
    let sessions = UsageFilter { event: Some("session.start".into()), ..Default::default() };
    let listed = store.list_usage(&sessions, &PageRequest::first(10)).await.unwrap().items;
    assert_eq!(listed.iter().map(|event| event.metadata["n"].as_i64()).collect::<Vec<_>>(), [Some(1), Some(0)]);
    let recent = UsageFilter { since: Some(T0 + Duration::seconds(2)), ..Default::default() };
    assert_eq!(store.list_usage(&recent, &PageRequest::first(10)).await.unwrap().items.len(), 1);

    let flag = Flag {
        id: uuid::Builder::from_unix_timestamp_millis(5_000, &[9; 10]).into_uuid(),
        license_key: owner.key.clone(),
        activation_id: machine,
        reason: "shared_key".into(),
        message: Some("seen on 40 machines".into()),
        metadata: serde_json::json!({}),
        status: FlagStatus::Open,
        action: None,
        created_at: T0,
        reviewed_at: None,
    };
    store.create_flag(&flag, &delivery_audit(1)).await.unwrap();
    assert_eq!(store.find_flag(flag.id).await.unwrap().as_ref(), Some(&flag));
    let open = FlagFilter { status: Some(FlagStatus::Open), license_key: None };
    assert_eq!(store.list_flags(&open, &PageRequest::first(10)).await.unwrap().items.len(), 1);
    assert_eq!(store.stats(T0).await.unwrap().flags_open, 1);
    let review = FlagReview {
        status: FlagStatus::Actioned,
        action: Some("revoked the key".into()),
        at: T0 + Duration::hours(1),
    };
    let reviews = join_all((0..4).map(|n| {
        let review = &review;
        let id = flag.id;
        async move { store.review_flag(id, review, &delivery_audit(10 + n)).await }
    }))
    .await;
    assert_eq!(reviews.iter().filter(|result| matches!(result, Ok(true))).count(), 1, "reviewed once");
    let reviewed = store.find_flag(flag.id).await.unwrap().unwrap();
    assert_eq!((reviewed.status, reviewed.action.as_deref()), (FlagStatus::Actioned, Some("revoked the key")));
    assert_eq!(reviewed.reviewed_at, Some(T0 + Duration::hours(1)));
    assert!(store.list_flags(&open, &PageRequest::first(10)).await.unwrap().items.is_empty());
    assert!(!store.review_flag(uuid::Uuid::nil(), &review, &delivery_audit(20)).await.unwrap());
    assert_eq!(audit_count(store).await, 2, "raised + one review");
}

pub async fn licenses_bring_their_customer_and_a_move_rewrites_them_atomically(store: &impl Store) {
    let mut first = license(1);
    let mut second = license(2);
    second.email = first.email.clone();
    first.name = tessera_domain::license::CustomerName::parse("Ada Lovelace").unwrap();
    store.create(&first, None, &audit_for(&first, "license.minted", 1)).await.unwrap();
    store.create_many(&[second.clone(), license(3)], &[]).await.unwrap();
    let listed = store.list_customers(&CustomerFilter::default(), &PageRequest::first(10)).await.unwrap();
    let summary: Vec<(&str, u64)> = listed.items.iter().map(|c| (c.email.as_str(), c.licenses)).collect();
    assert_eq!(summary, [("buyer1@example.com", 2), ("buyer3@example.com", 1)]);
    assert_eq!(listed.items[0].name.as_str(), "Ada Lovelace", "the first license names the customer");
    let page = store.list_customers(&CustomerFilter::default(), &PageRequest::first(1)).await.unwrap();
    let rest =
        store.list_customers(&CustomerFilter::default(), &PageRequest::new(Some(1), page.next_cursor)).await.unwrap();
    assert_eq!(rest.items[0].email.as_str(), "buyer3@example.com");
    let search = CustomerFilter { query: Some("LOVELACE".into()) };
    assert_eq!(store.list_customers(&search, &PageRequest::first(10)).await.unwrap().items.len(), 1);

    let mut duplicate = listed.items[1].clone();
    duplicate.licenses = 0;
    let error = store.create_customer(&duplicate, &delivery_audit(1)).await.unwrap_err();
    assert!(matches!(error, CustomerStoreError::EmailTaken), "{error:?}");

    // Move buyer1 to a new address with both licenses.
    let previous = first.email.clone();
    let new_email = EmailAddress::parse("ada@new.example").unwrap();
    let moved = tessera_domain::customer::Customer { email: new_email.clone(), ..listed.items[0].clone() };
    let rewrite = |license: &tessera_domain::license::License, n: u64| {
        let mut changed = license.clone();
        changed.email = new_email.clone();
        changed.version += 1;
        (changed, license.version, audit_for(license, "license.customer_changed", 100 + n))
    };
    let stale = vec![rewrite(&first, 1), (rewrite(&second, 2).0, 7, audit_for(&second, "x", 3))];
    let error = store.update_customer(&previous, &moved, &delivery_audit(2), &stale).await.unwrap_err();
    assert!(matches!(error, CustomerStoreError::Conflict), "{error:?}");
    assert_eq!(store.find_by_key(&first.key).await.unwrap().unwrap().email, previous, "nothing written");
    let taken = tessera_domain::customer::Customer { email: license(3).email, ..moved.clone() };
    let error = store.update_customer(&previous, &taken, &delivery_audit(3), &[]).await.unwrap_err();
    assert!(matches!(error, CustomerStoreError::EmailTaken), "{error:?}");
    store
        .update_customer(&previous, &moved, &delivery_audit(4), &[rewrite(&first, 1), rewrite(&second, 2)])
        .await
        .unwrap();
    assert_eq!(store.find_customer(&previous).await.unwrap(), None);
    assert_eq!(store.find_customer(&new_email).await.unwrap().map(|c| c.licenses), Some(2));
    assert_eq!(store.find_by_key(&second.key).await.unwrap().unwrap().email, new_email);
}

fn release(n: u64, product: &str, version: &str) -> tessera_domain::release::Release {
    use tessera_domain::release::{Channel, Release, ReleaseStatus, Version};
    Release {
        id: crate::fixtures::v7(T0, 7_000_000 + n),
        product: product.into(),
        version: Version::parse(version).unwrap(),
        channel: Channel::stable(),
        notes: Some("Fixes ünïcode paths".into()),
        status: ReleaseStatus::Draft,
        created_at: T0,
        published_at: None,
        yanked_at: None,
    }
}

fn artifact(release: &tessera_domain::release::Release, n: u64, filename: &str) -> tessera_domain::release::Artifact {
    use tessera_domain::release::{Arch, Artifact, FileName, Platform};
    Artifact {
        id: crate::fixtures::v7(T0, 8_000_000 + n),
        release_id: release.id,
        filename: FileName::parse(filename).unwrap(),
        platform: Platform::parse("macos").unwrap(),
        arch: Arch::parse("universal").unwrap(),
        size: 5_000_000_000,
        sha256: "ab".repeat(32),
        signature: "c2lnbmF0dXJl".into(),
        signature_kid: "2026-01".into(),
        updater_signature: Some("dW50cnVzdGVkIGNvbW1lbnQ=".into()),
        storage_key: format!("{}/{}/{n}/{filename}", release.product, release.version),
        downloads: 0,
        created_at: T0,
    }
}

pub async fn stores_releases_once_per_product_and_version(store: &impl Store) {
    use tessera_domain::release::{CreateReleaseError, ReleaseFilter, ReleaseStatus};
    let first = release(1, "datatools", "1.2.0");
    store.create_release(&first, &delivery_audit(1)).await.unwrap();
    assert_eq!(store.find_release(first.id).await.unwrap(), Some(first.clone()));
    let mut beta = release(2, "datatools", "1.2.0");
    beta.channel = tessera_domain::release::Channel::parse("beta").unwrap();
    let error = store.create_release(&beta, &delivery_audit(2)).await.unwrap_err();
    assert!(matches!(error, CreateReleaseError::VersionTaken { .. }), "{error:?}");
    // Concurrent creations of one version: exactly one wins.
    let racers: Vec<_> = (10..16).map(|n| release(n, "datatools", "2.0.0-beta.1")).collect();
    let audits: Vec<_> = (10..16).map(delivery_audit).collect();
    let results = join_all(racers.iter().zip(&audits).map(|(racer, audit)| store.create_release(racer, audit))).await;
    assert_eq!(results.iter().filter(|result| result.is_ok()).count(), 1);
    let other = release(3, "sampler", "1.2.0");
    store.create_release(&other, &delivery_audit(3)).await.unwrap();
    let datatools = ReleaseFilter { product: Some("datatools".into()), ..ReleaseFilter::default() };
    let listed = store.list_releases(&datatools, &PageRequest::first(10)).await.unwrap();
    assert_eq!(listed.items.len(), 2, "1.2.0 and the one 2.0.0-beta.1");
    assert!(listed.items[0].id > listed.items[1].id, "newest first");
    let page = store.list_releases(&ReleaseFilter::default(), &PageRequest::first(2)).await.unwrap();
    assert_eq!(page.items.len(), 2);
    let rest = PageRequest { limit: 2, after: page.next_cursor.clone() };
    assert_eq!(store.list_releases(&ReleaseFilter::default(), &rest).await.unwrap().items.len(), 1);
    assert!(store.published_releases("datatools").await.unwrap().is_empty(), "drafts are not published");
    let drafts = ReleaseFilter { status: Some(ReleaseStatus::Draft), ..ReleaseFilter::default() };
    assert_eq!(store.list_releases(&drafts, &PageRequest::first(10)).await.unwrap().items.len(), 3);
}

pub async fn moves_a_release_only_from_the_expected_status(store: &impl Store) {
    use tessera_domain::release::ReleaseStatus::{Draft, Published, Yanked};
    let stored = release(1, "datatools", "1.0.0");
    store.create_release(&stored, &delivery_audit(1)).await.unwrap();
    let at = T0 + Duration::hours(1);
    let audits: Vec<_> = (10..16).map(delivery_audit).collect();
    let racers =
        join_all(audits.iter().map(|audit| store.set_release_status(stored.id, Draft, Published, at, audit))).await;
    assert_eq!(racers.into_iter().filter(|won| *won.as_ref().unwrap()).count(), 1, "one publish wins");
    let published = store.find_release(stored.id).await.unwrap().unwrap();
    assert_eq!((published.status, published.published_at, published.yanked_at), (Published, Some(at), None));
    assert_eq!(store.published_releases("datatools").await.unwrap(), vec![published]);
    assert!(!store.set_release_status(stored.id, Draft, Yanked, at, &delivery_audit(20)).await.unwrap());
    let later = at + Duration::days(3);
    assert!(store.set_release_status(stored.id, Published, Yanked, later, &delivery_audit(21)).await.unwrap());
    let yanked = store.find_release(stored.id).await.unwrap().unwrap();
    assert_eq!((yanked.status, yanked.published_at, yanked.yanked_at), (Yanked, Some(at), Some(later)));
    assert!(store.published_releases("datatools").await.unwrap().is_empty());
    assert!(!store.set_release_status(uuid::Uuid::nil(), Draft, Published, at, &delivery_audit(22)).await.unwrap());
    assert_eq!(audit_count(store).await, 3, "created, published, yanked");
}

pub async fn adds_files_only_to_a_draft_and_replaces_by_name(store: &impl Store) {
    use tessera_domain::release::{AddArtifactError, ReleaseStatus};
    let draft = release(1, "datatools", "1.0.0");
    store.create_release(&draft, &delivery_audit(1)).await.unwrap();
    let dmg = artifact(&draft, 1, "DataTools 1.0.0.dmg");
    assert_eq!(store.put_artifact(&dmg, &delivery_audit(2)).await.unwrap(), None);
    let zip = artifact(&draft, 2, "DataTools.app.tar.gz");
    store.put_artifact(&zip, &delivery_audit(3)).await.unwrap();
    assert_eq!(store.find_artifact(dmg.id).await.unwrap(), Some(dmg.clone()), "5 GB sizes and every field kept");
    let again =
        tessera_domain::release::Artifact { sha256: "cd".repeat(32), ..artifact(&draft, 3, "DataTools 1.0.0.dmg") };
    assert_eq!(
        store.put_artifact(&again, &delivery_audit(4)).await.unwrap(),
        Some(dmg.clone()),
        "a re-upload replaces"
    );
    assert_eq!(store.find_artifact(dmg.id).await.unwrap(), None);
    let files = store.artifacts_of(draft.id).await.unwrap();
    assert_eq!(files, vec![again.clone(), zip.clone()], "by file name");
    assert!(store
        .set_release_status(draft.id, ReleaseStatus::Draft, ReleaseStatus::Published, T0, &delivery_audit(5))
        .await
        .unwrap());
    let late = artifact(&draft, 4, "late.zip");
    assert!(matches!(store.put_artifact(&late, &delivery_audit(6)).await, Err(AddArtifactError::NotDraft)));
    assert_eq!(store.artifacts_of(draft.id).await.unwrap().len(), 2, "nothing added to a published release");
    let orphan = artifact(&release(9, "datatools", "9.0.0"), 5, "x.zip");
    assert!(matches!(store.put_artifact(&orphan, &delivery_audit(7)).await, Err(AddArtifactError::NoRelease(_))));
    // Downloads are counted exactly, also concurrently.
    let audits: Vec<_> = (100..120).map(delivery_audit).collect();
    let counted = join_all(audits.iter().map(|audit| store.count_download(again.id, audit))).await;
    assert!(counted.into_iter().all(|counted| counted.unwrap()));
    assert_eq!(store.find_artifact(again.id).await.unwrap().unwrap().downloads, 20);
    assert!(!store.count_download(uuid::Uuid::nil(), &delivery_audit(200)).await.unwrap());
}

/// The reads a validation (`find_for_machine`) and a heartbeat
/// (`find_by_activation`) make see every write made before them, however
/// often they were read before that write (an adapter may keep those reads
/// between writes) — except a check-in's `last_seen_at` and `app_version`,
/// which may lag there and are current in `live_activations`.
pub async fn validation_reads_see_every_write_before_them(store: &impl Store) {
    let original = license(1);
    let machine = activation(&original, 1, "machine-1");
    let read = |with_machine: bool| {
        let key = original.key.clone();
        let machine_fingerprint = machine.fingerprint.clone();
        async move {
            let fingerprint = with_machine.then_some(&machine_fingerprint);
            let mut views = Vec::new();
            // Read twice: the second may come from wherever the first was kept.
            for _ in 0..2 {
                views.push(store.find_for_machine(&key, fingerprint).await.unwrap());
            }
            assert_eq!(views[0], views[1]);
            views.pop().unwrap()
        }
    };
    let read_by_activation = || async {
        let first = store.find_by_activation(machine.id).await.unwrap();
        assert_eq!(first, store.find_by_activation(machine.id).await.unwrap());
        first
    };
    assert!(read(false).await.is_none(), "not minted yet");
    assert!(read_by_activation().await.is_none());
    store.create(&original, None, &audit_for(&original, "license.minted", 1)).await.unwrap();
    assert_eq!(read(false).await.unwrap().license.key, original.key, "a mint is seen");
    assert_eq!(read(true).await.unwrap().activation, None);
    assert!(read_by_activation().await.is_none());

    store.take_seat(&machine, None, &audit_for(&original, "activation.created", 2)).await.unwrap();
    let view = read(true).await.unwrap();
    assert_eq!((view.seats_used, view.activation.map(|activation| activation.id)), (1, Some(machine.id)));
    assert_eq!(read(false).await.unwrap().seats_used, 1, "a seat is seen");
    let view = read_by_activation().await.expect("the new activation");
    assert_eq!((view.seats_used, view.activation.map(|activation| activation.id)), (1, Some(machine.id)));

    let later = T0 + Duration::days(3);
    assert!(store.touch(machine.id, later, Some("2.0.0")).await.unwrap());
    let live = store.live_activations(original.id).await.unwrap();
    assert_eq!(
        live.iter().map(|live| (live.last_seen_at, live.app_version.as_deref())).collect::<Vec<_>>(),
        [(later, Some("2.0.0"))]
    );
    let after_check_in = read_by_activation().await.unwrap().activation.unwrap();
    assert!(after_check_in.is_live(), "a check-in leaves the machine live");
    assert!([machine.last_seen_at, later].contains(&after_check_in.last_seen_at), "then or now, nothing else");

    let mut revoked = original.clone();
    revoked.state = LicenseState::Revoked;
    revoked.version = 2;
    store.update(&revoked, 1, &audit_for(&revoked, "license.revoked", 3)).await.unwrap();
    assert_eq!(read(false).await.unwrap().license.state, LicenseState::Revoked, "a revoke is seen");
    assert_eq!(read(true).await.unwrap().license.state, LicenseState::Revoked);
    assert_eq!(read_by_activation().await.unwrap().license.state, LicenseState::Revoked);

    store.release_seat(machine.id, later, &audit_for(&original, "activation.deactivated", 4)).await.unwrap();
    let view = read(true).await.unwrap();
    assert_eq!((view.seats_used, view.activation), (0, None), "a deactivation is seen");
    let view = read_by_activation().await.unwrap();
    assert_eq!((view.seats_used, view.activation.unwrap().deactivated_at), (0, Some(later)));
}

/// A sale's new license, its first email and the outcome of the event that
/// sold it are stored together, or — on a taken key — none of them.
pub async fn creates_a_sales_license_and_finishes_its_event_or_neither(store: &impl Store) {
    let event = recorded_event(1);
    store.record(&event).await.unwrap();
    let owner = license(1);
    let email = tessera_domain::mail::Delivery { dedupe_key: Some("license:1:issued".into()), ..delivery(&owner, 1) };
    let outcome = EventOutcome {
        status: EventStatus::Processed,
        kind: Some("sale".into()),
        dedupe_key: Some("sale:S1".into()),
        error: None,
        license_key: Some(owner.key.to_string()),
        processed_at: T0 + Duration::minutes(1),
    };
    let audits =
        [audit_for(&owner, "license.minted", 2), delivery_audit(3), audit_for(&owner, "storefront_event.processed", 4)];
    let sale = |license, delivery| tessera_domain::storefront::FinishedSale {
        license,
        idempotency: None,
        license_audit: &audits[0],
        delivery,
        delivery_audit: &audits[1],
        event_id: event.id,
        outcome: &outcome,
        outcome_audit: &audits[2],
    };
    store.create_license_and_finish(&sale(&owner, &email)).await.unwrap();
    assert_eq!(store.find_by_key(&owner.key).await.unwrap().as_ref(), Some(&owner));
    assert_eq!(store.find_delivery(email.id).await.unwrap(), Some(email.clone()));
    let found = store.find_event(event.id).await.unwrap().unwrap();
    assert_eq!((found.status, found.attempts), (EventStatus::Processed, 1));
    assert_eq!(found.license_key, outcome.license_key);
    assert_eq!(found.processed_at, Some(outcome.processed_at));
    assert_eq!(audit_count(store).await, 3, "the license's, the email's and the outcome's audit events");

    // The same key again: nothing of the second attempt is stored.
    let twin = tessera_domain::license::License { id: license(2).id, ..owner.clone() };
    let second = delivery(&twin, 3);
    let error = store.create_license_and_finish(&sale(&twin, &second)).await.unwrap_err();
    assert!(matches!(error, CreateLicenseError::KeyTaken(_)), "{error:?}");
    assert_eq!(store.find_delivery(second.id).await.unwrap(), None);
    assert_eq!(store.find_event(event.id).await.unwrap().unwrap().attempts, 1, "the outcome was not written again");
    assert_eq!(audit_count(store).await, 3);
}
