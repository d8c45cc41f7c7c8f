//! What the HTTP tests share: the server's settings over in-memory adapters.

use std::sync::Arc;

use std::collections::BTreeMap;
use tessera_domain::activation::ActivationPolicy;

use tessera_domain::catalog::{Catalog, Product, Tier};
use tessera_domain::mail::{MailSettings, RetryPolicy};
use tessera_domain::storefront::ConfiguredStorefront;
use tessera_memory::{InMemoryMailer, ManualClock};
use tessera_ring::Keyring;
use tessera_server::state::{AdminToken, ReleaseSettings, Settings, UploadLimits};

/// Settings with `token` as the admin token, the in-memory `mailer`, default
/// leases and no rate limits; change fields with struct update syntax.
pub fn settings(
    keyring: Arc<Keyring>,
    clock: Arc<ManualClock>,
    catalog: Catalog,
    storefronts: Vec<ConfiguredStorefront>,
    mailer: Arc<InMemoryMailer>,
    token: &str,
) -> Settings {
    Settings {
        keyring,
        clock,
        catalog,
        issuer: "tessera-test".into(),
        admin_token: AdminToken::new(token),
        activation: ActivationPolicy::default(),
        storefronts,
        mailer,
        mail: MailSettings { from: "Shop <shop@example.com>".into(), base_url: "http://127.0.0.1:8080".into() },
        retry: RetryPolicy::default(),
        notice: None,
        rate_limits: None,
        portal_link_lifetime: time::Duration::hours(1),
        releases: ReleaseSettings {
            artifacts: Arc::new(tessera_memory::InMemoryArtifactStore::new()),
            uploads: UploadLimits { staging_dir: std::env::temp_dir(), max_bytes: 64 * 1024 * 1024 },
            links: Default::default(),
        },
    }
}

/// The console's and portal's product: "Pixel App" (`app`, keys `APP-…`)
/// with a perpetual `pro` tier and a 365-day `year` tier, two seats each.
#[allow(dead_code)] // Not every test crate sells it.
pub fn pixel_app(renew_url: Option<&str>) -> Catalog {
    let tier = |slug: &str, duration_days| Tier {
        name: None,
        slug: slug.into(),
        features: vec!["export".into()],
        seats: 2,
        duration_days,
        app_versions: None,
        downloads: Default::default(),
    };
    Catalog::new(vec![Product {
        slug: "app".into(),
        name: "Pixel App".into(),
        key_prefix: "APP".into(),
        renew_url: renew_url.map(str::to_owned),
        tiers: BTreeMap::from([("pro".into(), tier("pro", None)), ("year".into(), tier("year", Some(365)))]),
    }])
    .unwrap()
}
