//! Per-IP, per-route rate limits on the public listener (governor's GCRA).
//! The client IP is the peer's, or — only when the peer is a configured
//! trusted proxy — the rightmost `X-Forwarded-For` address that is not itself
//! a trusted proxy, so a client cannot pick its own key.
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

pub struct RateLimits {
    routes: HashMap<&'static str, (u32, Limiter)>,
    webhook_failures: (u32, Limiter),
    portal_per_ip: (u32, Limiter),
    /// Keyed by the normalized address, so one inbox cannot be flooded from many IPs.
    portal_per_email: (u32, Limiter<String>),
    trusted_proxies: Vec<IpNet>,
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

fn limiter<K: Clone + Eq + std::hash::Hash>(count: u32, per: fn(NonZeroU32) -> Quota) -> (u32, Limiter<K>) {
    let count = NonZeroU32::new(count.max(1)).expect("at least one");
    (count.get(), RateLimiter::keyed(per(count)).with_middleware::<StateInformationMiddleware>())
}

fn per_minute(count: u32) -> (u32, Limiter) {
    limiter(count, Quota::per_minute)
}

impl RateLimits {
    pub fn new(limits: &Limits, trusted_proxies: Vec<IpNet>) -> Self {
        let routes = HashMap::from([
            ("activate", per_minute(limits.activate)),
            ("validate", per_minute(limits.validate)),
            ("heartbeat", per_minute(limits.heartbeat)),
            ("deactivate", per_minute(limits.deactivate)),
            ("usage", per_minute(limits.usage)),
            ("downloads", per_minute(limits.downloads)),
        ]);
        Self {
            routes,
            webhook_failures: per_minute(limits.webhook_auth_failures),
            portal_per_ip: limiter(limits.portal_redeliver_per_ip, Quota::per_hour),
            portal_per_email: limiter(limits.portal_redeliver_per_email, Quota::per_hour),
            trusted_proxies,
            checks: AtomicU64::new(0),
        }
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

    fn verdict<K: Clone + Eq + std::hash::Hash>(&self, (limit, limiter): &(u32, Limiter<K>), key: &K) -> Verdict {
        // Forget idle clients now and then, so the table stays small.
        if self.checks.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
            limiter.retain_recent();
        }
        match limiter.check_key(key) {
            Ok(snapshot) => Verdict::Allowed { limit: *limit, remaining: snapshot.remaining_burst_capacity() },
            Err(denied) => {
                Verdict::Limited { limit: *limit, retry_after: denied.wait_time_from(DefaultClock::default().now()) }
            }
        }
    }

    /// The verdict for `path` from `ip`; `None` when the path is not limited.
    pub fn check(&self, path: &str, ip: IpAddr) -> Option<Verdict> {
        let (_, key) = LIMITED_ROUTES
            .iter()
            .find(|(route, _)| *route == path)
            .or_else(|| LIMITED_PREFIXES.iter().find(|(prefix, _)| path.starts_with(prefix)))?;
        Some(self.verdict(self.routes.get(key)?, &ip))
    }

    /// The verdict for a portal machine deactivation: it shares the budget of
    /// `/v1/deactivate`.
    pub fn portal_deactivate(&self, ip: IpAddr) -> Verdict {
        self.verdict(&self.routes["deactivate"], &ip)
    }

    /// The verdict for a portal "email me my licenses" request: within both
    /// the client IP's and the address's hourly budget. The same for every
    /// address, known or not.
    pub fn portal_redeliver(&self, ip: IpAddr, email: &str) -> Verdict {
        match self.verdict(&self.portal_per_ip, &ip) {
            Verdict::Allowed { .. } => self.verdict(&self.portal_per_email, &email.to_owned()),
            limited => limited,
        }
    }

    /// Counts a failed webhook authentication from `ip`; the verdict says
    /// whether that IP is now over its limit.
    pub fn webhook_auth_failed(&self, ip: IpAddr) -> Verdict {
        self.verdict(&self.webhook_failures, &ip)
    }
}
