//! Validations' reads are kept between writes; on Postgres a write made
//! through one instance reaches every other instance by `LISTEN/NOTIFY`.
//! This measures that window: how long after a write's commit another
//! instance's next validation still answers from before it.

use std::time::{Duration, Instant};

use tessera_domain::license::{ActivationRepository, LicenseRepository, LicenseState};
use tessera_repository_contract::{audit_for, license};
use tessera_sea_orm::{test_support, SeaOrmStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Postgres: set TESSERA_TEST_DATABASE_URL and run with --include-ignored (CI does)"]
async fn a_write_through_one_instance_reaches_the_others_cache_within_milliseconds() {
    let (first, second) = test_support::postgres_database_pair().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !(first.caches_validations() && second.caches_validations()) {
        assert!(Instant::now() < deadline, "the listeners never connected");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (reader, writer) = (SeaOrmStore::new(first), SeaOrmStore::new(second));
    let mut current = license(1);
    writer.create(&current, None, &audit_for(&current, "license.minted", 1)).await.unwrap();

    let mut windows = Vec::new();
    for round in 0..40u64 {
        // Warm the reader's cache with the state before the write.
        for _ in 0..3 {
            let seen = reader.find_for_machine(&current.key, None).await.unwrap().unwrap();
            assert_eq!(seen.license.state, current.state);
        }
        let mut next = current.clone();
        next.state = if current.state == LicenseState::Active { LicenseState::Suspended } else { LicenseState::Active };
        next.version = current.version + 1;
        writer.update(&next, current.version, &audit_for(&next, "license.changed", 10 + round)).await.unwrap();
        let committed = Instant::now();
        loop {
            let seen = reader.find_for_machine(&current.key, None).await.unwrap().unwrap();
            if seen.license.state == next.state {
                break;
            }
            assert!(committed.elapsed() < Duration::from_secs(1), "round {round}: the change never arrived");
        }
        windows.push(committed.elapsed());
        current = next;
    }
    windows.sort();
    let (median, worst) = (windows[windows.len() / 2], windows[windows.len() - 1]);
    println!("window after a commit on another instance: median {median:?}, max {worst:?} (40 writes)");
    assert!(worst < Duration::from_millis(100), "median {median:?}, max {worst:?}");

    // The instance that wrote sees its own write at once, always.
    let mut revoked = current.clone();
    revoked.state = LicenseState::Revoked;
    revoked.version = current.version + 1;
    reader.find_for_machine(&current.key, None).await.unwrap();
    reader.update(&revoked, current.version, &audit_for(&revoked, "license.revoked", 99)).await.unwrap();
    let seen = reader.find_for_machine(&current.key, None).await.unwrap().unwrap();
    assert_eq!(seen.license.state, LicenseState::Revoked);
}
