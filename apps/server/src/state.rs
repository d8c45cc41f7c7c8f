//! What every request handler shares.

use std::sync::Arc;

use ring::digest::{digest, SHA256};
use subtle::ConstantTimeEq;
use tessera_domain::activation::{ActivationDeps, ActivationPolicy, ActivationService};
use tessera_domain::audit::AuditService;
use tessera_domain::catalog::Catalog;
use tessera_domain::clock::Clock;
use tessera_domain::customer::CustomerService;
use tessera_domain::issuance::IssuanceService;
use tessera_domain::licensing::LicensingService;
use tessera_domain::mail::{MailSettings, Mailer, OutboxDeps, OutboxService, RetryPolicy};
use tessera_domain::portal::{PortalLinks, PortalService};
use tessera_domain::ports::Store;
use tessera_domain::release::{ArtifactStore, DownloadLinks, LinkLifetimes, ReleaseDeps, ReleaseService};
use tessera_domain::reports::{ReportDeps, ReportService};
use tessera_domain::storefront::{ConfiguredStorefront, FulfillmentDeps, FulfillmentService};
use tessera_domain::usage::UsageService;
use tessera_ring::{Keyring, RingRandomSource, RingSigner, TokenVerifier};

use crate::console_sessions::ConsoleSessions;
use crate::counting_signer::CountingSigner;
use crate::metrics::Metrics;
use crate::rate_limit::RateLimits;

/// The admin bearer token, kept only as a SHA-256 digest and compared in
/// constant time, so neither timing nor a memory dump of the comparison
/// reveals it.
pub struct AdminToken([u8; 32]);

impl AdminToken {
    pub fn new(token: &str) -> Self {
        Self(digest(&SHA256, token.as_bytes()).as_ref().try_into().expect("SHA-256 is 32 bytes"))
    }

    pub fn matches(&self, candidate: &str) -> bool {
        let candidate = digest(&SHA256, candidate.as_bytes());
        bool::from(self.0.ct_eq(candidate.as_ref()))
    }
}

pub struct AppState {
    pub issuance: IssuanceService,
    /// Mint with the license email: the admin API's mint, like every sale.
    pub licensing: LicensingService,
    pub activation: ActivationService,
    pub fulfillment: FulfillmentService,
    pub outbox: OutboxService,
    pub usage: UsageService,
    pub customers: CustomerService,
    pub portal: PortalService,
    /// The operator's reads: audit, stats, storefront events, store health.
    pub reports: ReportService,
    /// Console sign-ins and sign-outs, in the audit trail.
    pub audit: AuditService,
    /// The console's signed-in browsers.
    pub console: ConsoleSessions,
    /// Releases, their files and buyers' downloads.
    pub releases: ReleaseService,
    /// Where uploads are staged and how large they may be.
    pub uploads: UploadLimits,
    /// Checks the license and lease tokens buyers present to the release routes.
    pub buyer_tokens: TokenVerifier,
    /// The time the answers' statuses are computed at (`LicenseBody::of`).
    clock: Arc<dyn Clock>,
    pub keyring: Arc<Keyring>,
    pub admin_token: AdminToken,
    /// `server.base_url`: where buyers reach the public listener.
    pub public_base_url: String,
    /// `server.notice`: shown by every app on activate, validate and heartbeat.
    pub notice: Option<String>,
    /// `None` when `[rate_limits] enabled = false`.
    pub rate_limits: Option<RateLimits>,
    pub metrics: Metrics,
}

/// What the state is built from besides the store.
pub struct Settings {
    pub keyring: Arc<Keyring>,
    pub clock: Arc<dyn Clock>,
    pub catalog: Catalog,
    pub issuer: String,
    pub admin_token: AdminToken,
    pub activation: ActivationPolicy,
    pub storefronts: Vec<ConfiguredStorefront>,
    pub mailer: Arc<dyn Mailer>,
    pub mail: MailSettings,
    pub retry: RetryPolicy,
    pub notice: Option<String>,
    pub rate_limits: Option<RateLimits>,
    /// How long a portal link works.
    pub portal_link_lifetime: time::Duration,
    pub releases: ReleaseSettings,
}

/// Where release files live, and the limits of uploads and links.
pub struct ReleaseSettings {
    pub artifacts: Arc<dyn ArtifactStore>,
    pub uploads: UploadLimits,
    pub links: LinkLifetimes,
}

/// Where an upload is staged while it is hashed and signed, and its largest size.
#[derive(Debug, Clone)]
pub struct UploadLimits {
    pub staging_dir: std::path::PathBuf,
    pub max_bytes: u64,
}

impl AppState {
    /// Now, to the second, as the use cases see it.
    pub fn now(&self) -> time::OffsetDateTime {
        tessera_domain::clock::now_seconds(self.clock.as_ref())
    }

    /// Wires a store (sea-orm in the server, in-memory in tests) and the ring
    /// signer to the use cases.
    pub fn new<S: Store>(store: Arc<S>, settings: Settings) -> Arc<Self> {
        let Settings {
            keyring,
            clock,
            catalog,
            issuer,
            admin_token,
            activation,
            storefronts,
            mailer,
            mail,
            retry,
            notice,
            rate_limits,
            portal_link_lifetime,
            releases,
        } = settings;
        let mut metrics = Metrics::new();
        if let Some(health) = rate_limits.as_ref().and_then(RateLimits::shared_health) {
            metrics.register_shared_budget(health);
        }
        let ring = RingSigner::new(keyring.clone());
        // Signing is counted for /metrics; verifying leases and portal links is not.
        let verifier = Arc::new(ring.clone());
        let signer = Arc::new(CountingSigner::new(ring, metrics.signatures()));
        let random = Arc::new(RingRandomSource::new());
        let catalog = Arc::new(catalog);
        let issuance = IssuanceService::new(
            store.clone(),
            signer.clone(),
            clock.clone(),
            random.clone(),
            catalog.clone(),
            issuer.clone(),
        );
        let links =
            PortalLinks::new(signer.clone(), verifier.clone(), clock.clone(), issuer.clone(), portal_link_lifetime);
        let public_base_url = mail.base_url.clone();
        let outbox = OutboxService::new(OutboxDeps {
            deliveries: store.clone(),
            licenses: store.clone(),
            mailer,
            clock: clock.clone(),
            random: random.clone(),
            catalog: catalog.clone(),
            settings: mail,
            retry,
            links: links.clone(),
        });
        let licensing = LicensingService::new(issuance.clone(), outbox.clone());
        let fulfillment = FulfillmentService::new(FulfillmentDeps {
            log: store.clone(),
            licenses: store.clone(),
            issuance: issuance.clone(),
            licensing: licensing.clone(),
            clock: clock.clone(),
            random: random.clone(),
            storefronts,
        });
        let customers =
            CustomerService::new(store.clone(), store.clone(), issuance.clone(), clock.clone(), random.clone());
        let usage = UsageService::new(store.clone(), store.clone(), verifier.clone(), clock.clone(), random.clone());
        let activation = ActivationService::new(ActivationDeps {
            activations: store.clone(),
            signer: signer.clone(),
            verifier: verifier.clone(),
            clock: clock.clone(),
            random: random.clone(),
            catalog: catalog.clone(),
            releases: store.clone(),
            issuer: issuer.clone(),
            policy: activation,
        });
        let download_links = DownloadLinks::new(signer, verifier, clock.clone(), issuer, releases.links);
        let release_service = ReleaseService::new(ReleaseDeps {
            releases: store.clone(),
            licenses: store.clone(),
            store: releases.artifacts,
            catalog: catalog.clone(),
            clock: clock.clone(),
            random: random.clone(),
            links: download_links,
        });
        let portal =
            PortalService::new(store.clone(), activation.clone(), outbox.clone(), links, catalog, clock.clone());
        Arc::new(Self {
            issuance,
            licensing,
            activation,
            fulfillment,
            outbox,
            usage,
            customers,
            portal,
            audit: AuditService::new(store.clone(), clock.clone(), random.clone()),
            console: ConsoleSessions::new(),
            releases: release_service,
            uploads: releases.uploads,
            buyer_tokens: keyring.verifier(),
            reports: ReportService::new(ReportDeps {
                audit: store.clone(),
                stats: store.clone(),
                events: store.clone(),
                licenses: store,
                clock: clock.clone(),
            }),
            clock,
            keyring,
            admin_token,
            public_base_url,
            notice,
            rate_limits,
            metrics,
        })
    }
}
