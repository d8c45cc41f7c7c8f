//! What a lease allows at a given moment: the offline grace logic.

const DAY: i64 = 86_400;

pub use tessera_domain::issuance::{LeaseClaims, LicenseClaims};

/// Where the app stands, in unix seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// The lease is current.
    Active { until: i64 },
    /// The lease ran out; the app keeps working offline until `until`.
    InGrace { until: i64 },
    /// Lease and grace are over: the app must reach the server.
    Expired { since: i64 },
    /// No usable lease, with the reason.
    Invalid { reason: String },
}

/// What the app may do: its effective tier and features.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entitlements {
    pub license_key: String,
    pub product: String,
    pub tier: String,
    pub features: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub state: State,
    /// `None` when invalid or expired: nothing is granted.
    pub entitlements: Option<Entitlements>,
    /// The operator's message to every app, as of the last check-in.
    pub notice: Option<String>,
}

impl Status {
    /// The status a verified lease gives at unix time `now`.
    pub fn of(claims: &LeaseClaims, now: i64) -> Self {
        let grace_until = claims.exp + i64::from(claims.grace_days) * DAY;
        let state = if now < claims.exp {
            State::Active { until: claims.exp }
        } else if now < grace_until {
            State::InGrace { until: grace_until }
        } else {
            State::Expired { since: grace_until }
        };
        let entitlements = (!matches!(state, State::Expired { .. })).then(|| Entitlements {
            license_key: claims.sub.clone(),
            product: claims.product.clone(),
            tier: claims.tier.clone(),
            features: claims.features.clone(),
        });
        Self { state, entitlements, notice: None }
    }

    pub fn with_notice(mut self, notice: Option<String>) -> Self {
        self.notice = notice;
        self
    }

    pub fn invalid(reason: &str) -> Self {
        Self { state: State::Invalid { reason: reason.to_owned() }, entitlements: None, notice: None }
    }

    /// Whether the app may run its licensed features now.
    pub fn allows_use(&self) -> bool {
        matches!(self.state, State::Active { .. } | State::InGrace { .. })
    }

    /// Whether `feature` is granted now.
    pub fn has_feature(&self, feature: &str) -> bool {
        self.allows_use()
            && self.entitlements.as_ref().is_some_and(|granted| granted.features.iter().any(|f| f == feature))
    }
}
