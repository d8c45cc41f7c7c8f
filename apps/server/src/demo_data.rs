//! `tessera-server demo-data`: fills the configured database with a
//! believable history, so the console's dashboard and pages have something to
//! show (a first look, screenshots, the browser test). Everything goes
//! through the use cases, with a clock that walks through the past days: sales
//! and operator mints, machines activating, a few refunds and suspensions, an
//! open usage flag, two failed deliveries and a failed storefront event to
//! replay. Never run it on a production database.

use std::sync::{Arc, Mutex};

use time::{Duration, OffsetDateTime};

use tessera_domain::activation::Activate;
use tessera_domain::audit::Actor;
use tessera_domain::clock::Clock;
use tessera_domain::issuance::MintLicense;
use tessera_domain::license::{CustomerName, EmailAddress, Fingerprint, MachineName, Platform};
use tessera_domain::licensing::LicenseEmail;
use tessera_domain::mail::{Email, Mailer, SendError, Sent};
use tessera_domain::storefront::{ConfiguredStorefront, InboundRequest, RefundPolicy};

use crate::bootstrap;
use crate::config::Config;
use crate::state::{AppState, Settings};

/// A clock the seeding moves through the past.
struct WalkingClock(Mutex<OffsetDateTime>);

impl WalkingClock {
    fn set(&self, at: OffsetDateTime) {
        *self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = at;
    }
}

impl Clock for WalkingClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Refuses every email, so the deliveries the demo sends end up failed (and
/// the configured mailer never sees a demo address).
struct RefusingMailer;

#[async_trait::async_trait]
impl Mailer for RefusingMailer {
    async fn send(&self, _email: &Email) -> Result<Sent, SendError> {
        Err(SendError::Rejected("demo data: the recipient's inbox does not exist".into()))
    }
}

/// A small deterministic generator (xorshift): the same history every run.
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// What was created.
#[derive(Debug, Default)]
pub struct Summary {
    pub licenses: u64,
    pub machines: u64,
    pub failed_deliveries: u64,
    pub failed_events: u64,
    pub flags: u64,
}

const FIRST_NAMES: [&str; 10] =
    ["Ada", "Grace", "Alan", "Linus", "Margaret", "Dennis", "Barbara", "Ken", "Radia", "Edsger"];
const LAST_NAMES: [&str; 8] = ["Lovelace", "Hopper", "Turing", "Torvalds", "Hamilton", "Ritchie", "Liskov", "Perlman"];
const SALE_SOURCES: [&str; 4] = ["gumroad", "lemonsqueezy", "stripe", "paddle"];
const PLATFORMS: [&str; 3] = ["macos-arm64", "windows-x86_64", "linux-x86_64"];
const DEMO_GUMROAD_SECRET: &str = "demo-data-gumroad-secret";

/// Seeds `days` days of history, ending now.
pub async fn seed(config: &Config, days: u16) -> Result<Summary, String> {
    let checked = bootstrap::check(config).map_err(|error| error.to_string())?;
    let database = bootstrap::open_database(config).await.map_err(|error| error.to_string())?;
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap_or(OffsetDateTime::now_utc());
    let clock = Arc::new(WalkingClock(Mutex::new(now)));
    // Gumroad as the demo's storefront, with no product mapped: its sale fails
    // and waits in the console for a replay.
    let gumroad = ConfiguredStorefront {
        adapter: Arc::new(tessera_gumroad::GumroadStorefront::new(DEMO_GUMROAD_SECRET, None)),
        on_refund: RefundPolicy::Revoke,
        products: Default::default(),
    };
    let catalog = checked.catalog.clone();
    let state = AppState::new(
        Arc::new(tessera_sea_orm::SeaOrmStore::new(database)),
        Settings {
            keyring: Arc::new(checked.keyring),
            clock: clock.clone(),
            catalog: checked.catalog,
            issuer: config.server.issuer.clone(),
            admin_token: checked.admin_token.token,
            activation: config.licenses.policy(),
            storefronts: vec![gumroad],
            mailer: Arc::new(RefusingMailer),
            mail: tessera_domain::mail::MailSettings {
                from: config.mail.from.clone(),
                base_url: config.server.base_url(),
            },
            retry: tessera_domain::mail::RetryPolicy { max_attempts: 1, ..Default::default() },
            notice: None,
            rate_limits: None,
            portal_link_lifetime: Duration::hours(1),
            releases: checked.releases,
        },
    );
    let tiers: Vec<(String, String)> = catalog
        .products()
        .flat_map(|product| product.tiers.keys().map(|tier| (product.slug.clone(), tier.clone())))
        .collect();
    if tiers.is_empty() {
        return Err("the configuration has no products".into());
    }
    let mut dice = Dice(0x9e37_79b9_7f4a_7c15);
    let mut summary = Summary::default();
    let mut keys = Vec::new();
    let start = now - Duration::days(i64::from(days.max(1)) - 1);
    for day in 0..i64::from(days.max(1)) {
        // Sales grow over the period, with the week's rhythm.
        let weekday_boost = if (day % 7) >= 5 { 2 } else { 0 };
        let sales = 1 + dice.below(3 + day as u64 * 6 / u64::from(days.max(1))) + weekday_boost;
        for n in 0..sales + u64::from(dice.below(4) == 0) {
            let at = (start + Duration::days(day)).replace_time(time::Time::MIDNIGHT)
                + Duration::minutes(i64::try_from(dice.below(24 * 60)).unwrap_or(0));
            clock.set(at.min(now));
            let (product, tier) = &tiers[dice.below(tiers.len() as u64) as usize];
            let first = FIRST_NAMES[dice.below(FIRST_NAMES.len() as u64) as usize];
            let last = LAST_NAMES[dice.below(LAST_NAMES.len() as u64) as usize];
            let email = format!("{}.{}.{day}{n}@example.com", first.to_lowercase(), last.to_lowercase());
            let source = (n < sales).then(|| SALE_SOURCES[dice.below(SALE_SOURCES.len() as u64) as usize].to_owned());
            let name = CustomerName::parse(&format!("{first} {last}")).map_err(|error| error.to_string())?;
            let email = EmailAddress::parse(&email).map_err(|error| error.to_string())?;
            let request = MintLicense {
                notes: Some("demo data".into()),
                source_ref: source.as_ref().map(|_| format!("demo-sale-{day}-{n}")),
                source,
                ..MintLicense::new(product.clone(), tier.clone(), name, email)
            };
            let issued =
                state.licensing.issue(request, LicenseEmail::Skip, Actor::Admin).await.map_err(|e| e.to_string())?;
            summary.licenses += 1;
            let key = issued.minted.license.key.clone();
            for machine in 0..dice.below(3) {
                clock.set((at + Duration::hours(i64::try_from(1 + machine * 5).unwrap_or(1))).min(now));
                let activate = Activate {
                    key: key.to_string(),
                    fingerprint: Fingerprint::parse(&format!("demo-{key}-{machine}")).map_err(|e| e.to_string())?,
                    machine_name: MachineName::parse(&format!(
                        "{first}'s {}",
                        ["laptop", "studio", "desktop"][machine as usize]
                    ))
                    .ok()
                    .flatten(),
                    platform: Platform::parse(PLATFORMS[dice.below(3) as usize]).ok().flatten(),
                    app_version: None,
                    name: None,
                    email: None,
                };
                match state.activation.activate(activate).await {
                    Ok(leased) => {
                        summary.machines += 1;
                        if summary.flags == 0 && day > i64::from(days) / 2 {
                            let flag = state
                                .usage
                                .raise_flag(
                                    &leased.lease,
                                    "shared_key",
                                    Some("seen on 14 machines in a day".into()),
                                    None,
                                )
                                .await;
                            summary.flags += u64::from(flag.is_ok());
                        }
                    }
                    Err(error) => tracing::debug!(%error, "demo activation refused"),
                }
            }
            keys.push(key);
        }
    }
    clock.set(now);
    // A refund, a chargeback under dispute, and two emails to dead inboxes.
    for (n, key) in keys.iter().rev().take(6).enumerate() {
        match n {
            0 => drop(state.issuance.revoke(key, "refunded", Actor::Storefront("gumroad".into())).await),
            1 => drop(state.issuance.suspend(key, Actor::Storefront("stripe".into())).await),
            2 | 3 => drop(state.outbox.redeliver(key, Actor::Admin).await),
            _ => {}
        }
    }
    state.outbox.deliver_due(10).await.map_err(|error| error.to_string())?;
    let failed = tessera_domain::mail::DeliveryFilter {
        status: Some(tessera_domain::mail::DeliveryStatus::Failed),
        license_key: None,
    };
    summary.failed_deliveries = state
        .outbox
        .list(&failed, &tessera_domain::page::PageRequest::first(100))
        .await
        .map_err(|error| error.to_string())?
        .items
        .len() as u64;
    let ping = include_str!("../../../adapters/gumroad/tests/fixtures/sale-ping.txt")
        .lines()
        .filter(|line| !line.starts_with('#') && line.contains('='))
        .collect::<Vec<_>>()
        .join("&");
    let request = InboundRequest {
        query: vec![("secret".to_owned(), DEMO_GUMROAD_SECRET.to_owned())],
        headers: vec![],
        body: ping.into_bytes(),
    };
    if let Ok(receipt) = state.fulfillment.receive("gumroad", request).await {
        summary.failed_events += u64::from(receipt.outcome.status == tessera_domain::storefront::EventStatus::Failed);
    }
    Ok(summary)
}
