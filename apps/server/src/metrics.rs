//! Prometheus metrics, served at `GET /metrics` on the admin listener:
//! requests and latency per listener, route and status (measured by a
//! middleware on both listeners), and the store's counts (licenses, machines,
//! outbox, storefront events), read when scraped.

use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use tessera_domain::stats::Stats;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub listener: &'static str,
    pub method: String,
    /// The path with identifiers replaced by `:param`; `unmatched` for 404s.
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LicenseLabels {
    status: String,
    source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabels {
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabels {
    source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TokenLabels {
    /// `license`, `lease`, `portal_link` or `download_link`.
    pub token: &'static str,
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RequestLabels, Histogram>,
    licenses: Family<LicenseLabels, Gauge>,
    machines: Gauge,
    deliveries: Family<StatusLabels, Gauge>,
    events: Family<StatusLabels, Gauge>,
    mints_last_24h: Gauge,
    issued: Family<SourceLabels, Gauge>,
    activations: Family<CodeLabels, Counter>,
    seat_limit_rejections: Counter,
    signatures: Family<TokenLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("tessera");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RequestLabels, Histogram>::new_with_constructor(|| {
            // 0.25 ms … ~4 s
            Histogram::new(exponential_buckets(0.000_25, 2.0, 15))
        });
        let licenses = Family::<LicenseLabels, Gauge>::default();
        let machines = Gauge::default();
        let deliveries = Family::<StatusLabels, Gauge>::default();
        let events = Family::<StatusLabels, Gauge>::default();
        let mints_last_24h = Gauge::default();
        let issued = Family::<SourceLabels, Gauge>::default();
        let activations = Family::<CodeLabels, Counter>::default();
        let seat_limit_rejections = Counter::default();
        let signatures = Family::<TokenLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        registry.register("http_request_duration_seconds", "HTTP request latency", latency.clone());
        registry.register("licenses", "Licenses by status and source", licenses.clone());
        registry.register("machines_active", "Activations holding a seat", machines.clone());
        registry.register("deliveries", "Outbox deliveries by status", deliveries.clone());
        registry.register("storefront_events", "Storefront events failed or unprocessed", events.clone());
        registry.register("licenses_minted_last_24h", "Licenses minted in the last 24 hours", mints_last_24h.clone());
        registry.register(
            "licenses_issued",
            "Licenses ever issued, by source (admin, import, storefront:…); from the store, so it survives restarts",
            issued.clone(),
        );
        registry.register(
            "activation_requests",
            "Activation requests by outcome code (ACTIVATED, TOO_MANY_MACHINES, REVOKED, …)",
            activations.clone(),
        );
        registry.register(
            "seat_limit_rejections",
            "Activations refused because every seat was taken",
            seat_limit_rejections.clone(),
        );
        registry.register("signatures", "Tokens signed, by type", signatures.clone());
        Self {
            registry,
            requests,
            latency,
            licenses,
            machines,
            deliveries,
            events,
            mints_last_24h,
            issued,
            activations,
            seat_limit_rejections,
            signatures,
        }
    }

    /// Counts one `/v1/activate` answer by its code.
    pub fn count_activation(&self, code: &str) {
        self.activations.get_or_create(&CodeLabels { code: code.to_owned() }).inc();
        if code == "TOO_MANY_MACHINES" {
            self.seat_limit_rejections.inc();
        }
    }

    /// Adds the shared rate-limit budget's health (`[rate_limits] redis_url`).
    pub fn register_shared_budget(&mut self, health: crate::rate_limit::SharedBudgetHealth) {
        self.registry.register(
            "rate_limit_shared_budget_up",
            "1 while the rate limits draw from the budget shared in Redis; 0 while Redis cannot answer and each instance enforces its own",
            health.up,
        );
        self.registry.register(
            "rate_limit_fallback_checks",
            "Rate-limit checks answered by this instance's own budgets because Redis could not answer",
            health.fallback_checks,
        );
    }

    /// The counter of signed tokens, shared with the signer that counts them.
    pub fn signatures(&self) -> Family<TokenLabels, Counter> {
        self.signatures.clone()
    }

    pub fn observe(&self, labels: RequestLabels, elapsed: Duration) {
        self.latency.get_or_create(&labels).observe(elapsed.as_secs_f64());
        self.requests.get_or_create(&labels).inc();
    }

    /// The text exposition, with the store's counts as of `stats`.
    pub fn render(&self, stats: &Stats) -> String {
        self.licenses.clear();
        for row in &stats.licenses {
            let labels = LicenseLabels { status: row.status.to_string(), source: row.source.clone() };
            self.licenses.get_or_create(&labels).inc_by(row.count as i64);
        }
        self.issued.clear();
        for row in &stats.licenses {
            self.issued.get_or_create(&SourceLabels { source: row.source.clone() }).inc_by(row.count as i64);
        }
        self.machines.set(stats.active_machines as i64);
        for (status, count) in [
            ("pending", stats.deliveries_pending),
            ("failed", stats.deliveries_failed),
            ("sent", stats.deliveries_sent),
        ] {
            self.deliveries.get_or_create(&StatusLabels { status: status.into() }).set(count as i64);
        }
        for (status, count) in [("failed", stats.events_failed), ("unprocessed", stats.events_unprocessed)] {
            self.events.get_or_create(&StatusLabels { status: status.into() }).set(count as i64);
        }
        self.mints_last_24h.set(stats.minted_last_24h as i64);
        let mut text = String::new();
        encode(&mut text, &self.registry).expect("writing to a String cannot fail");
        text
    }
}

/// `path` with every segment that may be an identifier (a key, an id, an
/// email) replaced by `:param`, so the route label stays low-cardinality.
pub fn route_of(path: &str) -> String {
    let segments: Vec<&str> = path
        .split('/')
        .map(|segment| {
            let word = !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_lowercase() || b == b'-' || b == b'.');
            if segment.is_empty() || (word && segment.len() <= 24) || segment == "v1" {
                segment
            } else {
                ":param"
            }
        })
        .collect();
    segments.join("/")
}
