//! The operator's reads on the in-memory store: the dashboard's day series.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::executor::block_on;
use tessera_domain::audit::Actor;
use tessera_domain::catalog::{Catalog, Product, Tier};
use tessera_domain::issuance::{IssuanceService, MintLicense};
use tessera_domain::license::{CustomerName, EmailAddress};
use tessera_domain::reports::{ReportDeps, ReportService};
use tessera_domain::stats::DayCounts;
use tessera_memory::{InMemorySigner, InMemoryStore, ManualClock, SeededRandomSource};
use time::macros::datetime;
use time::Duration;

fn one_product() -> Catalog {
    let tier =
        Tier { name: None, slug: "pro".into(), features: vec![], seats: 2, duration_days: None, app_versions: None };
    let product = Product {
        slug: "app".into(),
        name: "App".into(),
        key_prefix: "APP".into(),
        renew_url: None,
        tiers: BTreeMap::from([("pro".into(), tier)]),
    };
    Catalog::new(vec![product]).unwrap()
}

fn mint(source: Option<&str>) -> MintLicense {
    MintLicense {
        product: "app".into(),
        tier: "pro".into(),
        name: CustomerName::parse("Ada").unwrap(),
        email: EmailAddress::parse("ada@example.com").unwrap(),
        seats: None,
        kind: None,
        duration_days: None,
        expires_at: None,
        key: None,
        notes: None,
        source: source.map(str::to_owned),
        source_ref: None,
        app_versions: None,
        subscription_id: None,
        idempotency_key: None,
    }
}

#[test]
fn the_activity_series_has_every_day_oldest_first_with_zeros_between() {
    let store = Arc::new(InMemoryStore::new());
    let clock = Arc::new(ManualClock::at(datetime!(2026-06-01 23:30:00 UTC)));
    let issuance = IssuanceService::new(
        store.clone(),
        Arc::new(InMemorySigner),
        clock.clone(),
        Arc::new(SeededRandomSource::new(3)),
        Arc::new(one_product()),
        "tessera-test",
    );
    let reports = ReportService::new(ReportDeps {
        audit: store.clone(),
        stats: store.clone(),
        events: store.clone(),
        licenses: store.clone(),
        clock: clock.clone(),
    });
    // June 1st: one operator mint and one sale; June 3rd: two sales; June 4th is today.
    block_on(issuance.mint(mint(None), Actor::Admin)).unwrap();
    block_on(issuance.mint(mint(Some("gumroad")), Actor::Admin)).unwrap();
    clock.advance(Duration::days(2));
    block_on(issuance.mint(mint(Some("stripe")), Actor::Admin)).unwrap();
    block_on(issuance.mint(mint(Some("stripe")), Actor::Admin)).unwrap();
    clock.advance(Duration::hours(1));

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
