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

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RequestLabels, Histogram>,
    licenses: Family<LicenseLabels, Gauge>,
    machines: Gauge,
    deliveries: Family<StatusLabels, Gauge>,
    events: Family<StatusLabels, Gauge>,
    mints_last_24h: Gauge,
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
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        registry.register("http_request_duration_seconds", "HTTP request latency", latency.clone());
        registry.register("licenses", "Licenses by status and source", licenses.clone());
        registry.register("machines_active", "Activations holding a seat", machines.clone());
        registry.register("deliveries", "Outbox deliveries by status", deliveries.clone());
        registry.register("storefront_events", "Storefront events failed or unprocessed", events.clone());
        registry.register("licenses_minted_last_24h", "Licenses minted in the last 24 hours", mints_last_24h.clone());
        Self { registry, requests, latency, licenses, machines, deliveries, events, mints_last_24h }
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
