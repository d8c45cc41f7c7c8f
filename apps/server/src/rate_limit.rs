//! Per-IP, per-route rate limits on the public listener (GCRA). The client IP
//! is the peer's, or — only when the peer is a configured trusted proxy — the
//! rightmost `X-Forwarded-For` address that is not itself a trusted proxy, so
//! a client cannot pick its own key.
//!
//! Each process keeps its own budgets (governor). With `[rate_limits]
//! redis_url`, every instance draws from one budget in Redis instead, and
//! falls back to its own budgets — saying so in the log and in `/metrics` —
//! while Redis cannot answer: an outage of the limiter never becomes an
//! outage of licensing.
//!
//! Storefront webhooks are never limited when they authenticate (Gumroad does
//! not retry a 4xx, so a limited sale would be lost); only failed
//! authentications count, per IP.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use ipnet::IpNet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use tessera_redis_limits::{Decision, RedisBudget};

type Limiter<K = IpAddr> = RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock, StateInformationMiddleware>;

/// The routes that are limited, and the key of each in [`RateLimits`].
pub const LIMITED_ROUTES: [(&str, &str); 6] = [
    ("/v1/activate", "activate"),
    ("/v1/validate", "validate"),
    ("/v1/heartbeat", "heartbeat"),
    ("/v1/deactivate", "deactivate"),
    ("/v1/usage", "usage"),
    ("/v1/flags", "usage"),
];

/// Route prefixes limited as one budget per client IP: every release route
/// (`/v1/releases/latest`, `/v1/artifacts/{id}`, the update feeds, downloads).
pub const LIMITED_PREFIXES: [(&str, &str); 4] = [
    ("/v1/releases/", "downloads"),
    ("/v1/artifacts/", "downloads"),
    ("/v1/updates/", "downloads"),
    ("/v1/downloads/", "downloads"),
];

/// What one check decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed { limit: u32, remaining: u32 },
    Limited { limit: u32, retry_after: Duration },
}

/// One budget: `count` per `period` for each key, in this process.
struct Budget<K: Clone + Eq + std::hash::Hash = IpAddr> {
    /// Its name in Redis (`<prefix>:<name>:<key>`).
    name: &'static str,
    count: u32,
    period: Duration,
    local: Limiter<K>,
}

impl<K: Clone + Eq + std::hash::Hash> Budget<K> {
    fn new(name: &'static str, count: u32, period: Duration) -> Self {
        let per_period = NonZeroU32::new(count.max(1)).expect("at least one");
        let quota = Quota::with_period(period / per_period.get()).expect("a period over zero").allow_burst(per_period);
        Self { name, count: per_period.get(), period, local: RateLimiter::keyed(quota).with_middleware() }
    }
}

/// The budget shared through Redis, and whether it is answering.
pub struct SharedBudget {
    redis: RedisBudget,
    health: SharedBudgetHealth,
}

/// What `/metrics` says of the shared budget.
#[derive(Clone, Default)]
pub struct SharedBudgetHealth {
    /// 1 while checks are answered by Redis, 0 while they fall back.
    pub up: Gauge,
    /// Checks answered by the per-process budgets because Redis could not.
    pub fallback_checks: Counter,
}

impl SharedBudget {
    pub fn new(redis: RedisBudget) -> Self {
        let health = SharedBudgetHealth::default();
        health.up.set(1);
        Self { redis, health }
    }
}

pub struct RateLimits {
    routes: HashMap<&'static str, Budget>,
    webhook_failures: Budget,
    portal_per_ip: Budget,
    /// Keyed by the normalized address, so one inbox cannot be flooded from many IPs.
    portal_per_email: Budget<String>,
    trusted_proxies: Vec<IpNet>,
    shared: Option<SharedBudget>,
    checks: AtomicU64,
}

/// Requests per minute for each limited route; portal requests per hour.
#[derive(Debug, Clone)]
pub struct Limits {
    pub activate: u32,
    pub validate: u32,
    pub heartbeat: u32,
    pub deactivate: u32,
    pub usage: u32,
    pub webhook_auth_failures: u32,
    pub downloads: u32,
    pub portal_redeliver_per_ip: u32,
    pub portal_redeliver_per_email: u32,
}

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

impl RateLimits {
    pub fn new(limits: &Limits, trusted_proxies: Vec<IpNet>, shared: Option<SharedBudget>) -> Self {
        let routes = [
            ("activate", limits.activate),
            ("validate", limits.validate),
            ("heartbeat", limits.heartbeat),
            ("deactivate", limits.deactivate),
            ("usage", limits.usage),
            ("downloads", limits.downloads),
        ]
        .into_iter()
        .map(|(name, count)| (name, Budget::new(name, count, MINUTE)))
        .collect();
        Self {
            routes,
            webhook_failures: Budget::new("webhook_auth_failures", limits.webhook_auth_failures, MINUTE),
            portal_per_ip: Budget::new("portal_redeliver_ip", limits.portal_redeliver_per_ip, HOUR),
            portal_per_email: Budget::new("portal_redeliver_email", limits.portal_redeliver_per_email, HOUR),
            trusted_proxies,
            shared,
            checks: AtomicU64::new(0),
        }
    }

    /// The shared budget's gauges, when there is one.
    pub fn shared_health(&self) -> Option<SharedBudgetHealth> {
        self.shared.as_ref().map(|shared| shared.health.clone())
    }

    fn trusted(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(&ip))
    }

    /// Who is asking: see the module documentation.
    pub fn client_ip(&self, peer: Option<IpAddr>, forwarded_for: Option<&str>) -> IpAddr {
        let peer = peer.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        if !self.trusted(peer) {
            return peer;
        }
        let hops: Vec<IpAddr> =
            forwarded_for.unwrap_or_default().split(',').filter_map(|hop| hop.trim().parse().ok()).collect();
        hops.iter().rev().copied().find(|hop| !self.trusted(*hop)).or(hops.first().copied()).unwrap_or(peer)
    }

    async fn verdict<K>(&self, budget: &Budget<K>, key: &K) -> Verdict
    where
        K: Clone + Eq + std::hash::Hash + std::fmt::Display,
    {
        if let Some(shared) = &self.shared {
            let quota = tessera_redis_limits::Quota { count: budget.count, period: budget.period };
            match shared.redis.check(budget.name, &key.to_string(), quota).await {
                Ok(decision) => {
                    // The gauge is the state: it was 0 while falling back.
                    if shared.health.up.set(1) == 0 {
                        tracing::info!("Redis answers again: every instance shares one rate-limit budget again");
                    }
                    return match decision {
                        Decision::Allowed { remaining } => Verdict::Allowed { limit: budget.count, remaining },
                        Decision::Limited { retry_after } => Verdict::Limited { limit: budget.count, retry_after },
                    };
                }
                Err(error) => {
                    shared.health.fallback_checks.inc();
                    if shared.health.up.set(0) == 1 {
                        tracing::warn!(
                            error = %error,
                            "the shared rate-limit budget is unavailable: each instance enforces its own limits until Redis answers"
                        );
                    }
                }
            }
        }
        // Forget idle clients now and then, so the table stays small.
        if self.checks.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
            budget.local.retain_recent();
        }
        match budget.local.check_key(key) {
            Ok(snapshot) => Verdict::Allowed { limit: budget.count, remaining: snapshot.remaining_burst_capacity() },
            Err(denied) => Verdict::Limited {
                limit: budget.count,
                retry_after: denied.wait_time_from(DefaultClock::default().now()),
            },
        }
    }

    /// The verdict for `path` from `ip`; `None` when the path is not limited.
    pub async fn check(&self, path: &str, ip: IpAddr) -> Option<Verdict> {
        let (_, key) = LIMITED_ROUTES
            .iter()
            .find(|(route, _)| *route == path)
            .or_else(|| LIMITED_PREFIXES.iter().find(|(prefix, _)| path.starts_with(prefix)))?;
        Some(self.verdict(self.routes.get(key)?, &ip).await)
    }

    /// The verdict for a portal machine deactivation: it shares the budget of
    /// `/v1/deactivate`.
    pub async fn portal_deactivate(&self, ip: IpAddr) -> Verdict {
        self.verdict(&self.routes["deactivate"], &ip).await
    }

    /// The verdict for a portal "email me my licenses" request: within both
    /// the client IP's and the address's hourly budget. The same for every
    /// address, known or not.
    pub async fn portal_redeliver(&self, ip: IpAddr, email: &str) -> Verdict {
        match self.verdict(&self.portal_per_ip, &ip).await {
            // Keyed by the address's hash: no inbox is written to Redis.
            Verdict::Allowed { .. } => self.verdict(&self.portal_per_email, &sha256_hex(email)).await,
            limited => limited,
        }
    }

    /// Counts a failed webhook authentication from `ip`; the verdict says
    /// whether that IP is now over its limit.
    pub async fn webhook_auth_failed(&self, ip: IpAddr) -> Verdict {
        self.verdict(&self.webhook_failures, &ip).await
    }
}

fn sha256_hex(text: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, text.as_bytes())
        .as_ref()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}
