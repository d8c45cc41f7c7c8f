//! The storefront port family: a [`Storefront`] turns a storefront's webhook
//! request into a [`StorefrontEvent`], so that the fulfillment rules (one
//! license per sale, refunds revoke, recurring charges extend) live in the
//! domain and every storefront adapter only authenticates and translates.

mod event_log;
mod fulfillment;

use std::fmt;

pub use event_log::{EventFilter, EventOutcome, EventStatus, FinishedSale, RecordedEvent, StorefrontEventLog};
pub use fulfillment::{
    ConfiguredStorefront, FulfillmentDeps, FulfillmentService, ProductMapping, Receipt, ReceiveError, RefundPolicy,
    ReplayError,
};
use thiserror::Error;
use time::OffsetDateTime;

/// A webhook request as received, before anything is trusted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InboundRequest {
    /// Decoded query parameters, in order.
    pub query: Vec<(String, String)>,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    /// The exact body bytes.
    pub body: Vec<u8>,
}

impl InboundRequest {
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }
}

/// What happened at the storefront.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A new purchase: mint one license.
    Sale,
    /// A subscription's renewal payment: extend that subscription's license.
    RecurringCharge,
    Refund,
    Dispute,
    DisputeWon,
    /// The buyer or seller cancelled a subscription: no further extensions.
    Cancellation,
    SubscriptionEnded,
    SubscriptionRestarted,
    /// A plan change (upgrade, downgrade).
    SubscriptionUpdated,
}

impl EventKind {
    /// Events about a subscription as a whole, which carry no sale id.
    pub fn is_subscription_only(self) -> bool {
        matches!(
            self,
            Self::Cancellation | Self::SubscriptionEnded | Self::SubscriptionRestarted | Self::SubscriptionUpdated
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sale => "sale",
            Self::RecurringCharge => "recurring_charge",
            Self::Refund => "refund",
            Self::Dispute => "dispute",
            Self::DisputeWon => "dispute_won",
            Self::Cancellation => "cancellation",
            Self::SubscriptionEnded => "subscription_ended",
            Self::SubscriptionRestarted => "subscription_restarted",
            Self::SubscriptionUpdated => "subscription_updated",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One storefront event in the storefront's own identifiers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorefrontEvent {
    pub kind: EventKind,
    /// The storefront's sale id; every kind but subscription-only events has one.
    pub sale_id: Option<String>,
    pub subscription_id: Option<String>,
    /// The storefront's product id (or price or variant id), mapped to a
    /// product and tier by configuration. Sales and plan changes need it;
    /// events that name only the sale (a refund, a dispute) may leave it empty.
    pub product_ref: String,
    /// The purchased variant or tier option, if any (e.g. Gumroad `variants[Tier]`).
    /// For a plan change, the new plan's tier option.
    pub variant: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    /// A test purchase made by the seller.
    pub test: bool,
    /// The subscription's billing period in days (Gumroad `recurrence`), when
    /// the storefront says; otherwise the tier's `duration_days` applies.
    pub billing_period_days: Option<u32>,
    /// When it happened; for a plan change, when it takes effect; for a
    /// subscription's end, when it ended.
    pub occurred_at: Option<OffsetDateTime>,
    /// Why, in the storefront's words, for the audit log (e.g. "cancelled by
    /// the buyer", "failed_payment", "upgrade").
    pub reason: Option<String>,
    /// For a plan change from a storefront that sends the whole subscription
    /// on every update (Paddle, Polar): whether it will renew, so that one
    /// `subscription.updated` both moves the tier and stops (a scheduled
    /// cancellation) or resumes (the cancellation undone) renewal.
    pub renewing: Option<bool>,
}

/// The longest storefront identifier (sale, subscription, product) Tessera
/// keeps; longer ones are refused, so every key built from them fits.
pub const MAX_STOREFRONT_ID_CHARS: usize = 200;

impl StorefrontEvent {
    /// An event of `kind` that says nothing else yet, for an adapter to fill in.
    pub fn new(kind: EventKind) -> Self {
        Self {
            kind,
            sale_id: None,
            subscription_id: None,
            product_ref: String::new(),
            variant: None,
            email: None,
            name: None,
            test: false,
            billing_period_days: None,
            occurred_at: None,
            reason: None,
            renewing: None,
        }
    }

    /// The same limits on every store: identifiers and texts within their
    /// lengths, no NUL or other control character. The error never echoes
    /// the offending text.
    pub fn check(&self) -> Result<(), String> {
        let ids = [("sale_id", &self.sale_id), ("subscription_id", &self.subscription_id)];
        let texts = [("variant", &self.variant, 200), ("name", &self.name, 200), ("reason", &self.reason, 200)];
        crate::text::check("product id", &self.product_ref, MAX_STOREFRONT_ID_CHARS)?;
        for (field, value) in ids {
            if let Some(value) = value {
                crate::text::check(field, value, MAX_STOREFRONT_ID_CHARS)?;
            }
        }
        for (field, value, max) in texts {
            if let Some(value) = value {
                crate::text::check(field, value, max)?;
            }
        }
        if let Some(email) = &self.email {
            crate::text::check("email", email, 254)?;
        }
        Ok(())
    }

    /// What makes a delivery "the same event again": the kind and the sale (or,
    /// for subscription-only events, the subscription and when it happened).
    /// The store enforces uniqueness of (storefront, key) with a constraint.
    pub fn dedupe_key(&self) -> String {
        match (&self.sale_id, &self.subscription_id) {
            (Some(sale), _) => format!("{}:{sale}", self.kind),
            (None, Some(subscription)) => {
                let at = self.occurred_at.map(|at| at.unix_timestamp().to_string()).unwrap_or_default();
                format!("{}:{subscription}:{at}", self.kind)
            }
            (None, None) => format!("{}:{}", self.kind, self.product_ref),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StorefrontError {
    /// Wrong secret, signature or seller: answer 401 and record nothing.
    #[error("not authenticated: {0}")]
    Unauthenticated(String),
    /// Authenticated, but not an event this adapter can read.
    #[error("malformed event: {0}")]
    Malformed(String),
    /// A well-formed event this storefront sends that Tessera does not act on.
    #[error("ignored: {0}")]
    Ignored(String),
    /// The storefront's API, asked for what the delivery does not carry,
    /// did not answer: the event is kept failed, to be replayed.
    #[error("the storefront's API could not be asked ({0}); replay this event")]
    Unavailable(String),
}

impl StorefrontError {
    /// `Ignored`, with the reason in the storefront's terms.
    pub fn ignored(why: impl Into<String>) -> Self {
        Self::Ignored(why.into())
    }
}

/// What a storefront's section gives its adapter: the webhook signing secret
/// and, for storefronts whose events must be completed through their REST
/// API (Paddle, Stripe), the API key.
#[derive(Clone, Copy)]
pub struct StorefrontCredentials<'a> {
    pub secret: &'a str,
    pub api_key: Option<&'a str>,
}

/// What every storefront's configuration section (`[storefronts.<name>]`,
/// owned by its adapter crate) gives the server: its signing secret (inline
/// or from a file, which the server reads), what refunds do, the product
/// mappings, and the adapter built from the secret.
pub trait StorefrontSettings {
    /// The section's name, `gumroad`: the `source` of its licenses.
    fn name(&self) -> &'static str;
    fn secret(&self) -> Option<&crate::secret::Secret>;
    fn secret_file(&self) -> Option<&std::path::Path>;
    fn on_refund(&self) -> RefundPolicy;
    fn products(&self) -> &std::collections::BTreeMap<String, ProductMapping>;
    fn api_key(&self) -> Option<&crate::secret::Secret> {
        None
    }
    fn api_key_file(&self) -> Option<&std::path::Path> {
        None
    }
    /// The API's base URL, for storefronts that ask their REST API (then
    /// `api_key` or `api_key_file` is required); checked at start-up.
    fn api_base_url(&self) -> Option<&str> {
        None
    }
    /// The adapter, given the credentials (a secret of at least 16
    /// characters; the API key when it has an [`api_base_url`](Self::api_base_url)) and the clock.
    fn storefront(
        &self,
        credentials: StorefrontCredentials<'_>,
        clock: std::sync::Arc<dyn crate::clock::Clock>,
    ) -> std::sync::Arc<dyn Storefront>;
}

/// Implements [`StorefrontSettings`] for an adapter's configuration section,
/// which declares the shared fields under their contract names (`secret`,
/// `secret_file`, `on_refund`, `products`; serde cannot flatten them into a
/// `deny_unknown_fields` section) and says how to build its adapter:
///
/// ```text
/// tessera_domain::storefront_settings!(GumroadConfig, "gumroad", |config, credentials, _clock| {
///     Arc::new(GumroadStorefront::new(credentials.secret, config.seller_id.clone()))
/// });
/// ```
///
/// A section that also has `api_key`, `api_key_file` and `api_base_url` (the
/// storefront's REST API) says so with `with_api` after the name.
#[macro_export]
macro_rules! storefront_settings {
    ($config:ty, $name:expr, with_api, |$this:ident, $credentials:ident, $clock:ident| $build:expr) => {
        $crate::storefront_settings!(@impl $config, $name, |$this, $credentials, $clock| $build, {
            fn api_key(&self) -> Option<&$crate::secret::Secret> {
                self.api_key.as_ref()
            }

            fn api_key_file(&self) -> Option<&std::path::Path> {
                self.api_key_file.as_deref()
            }

            fn api_base_url(&self) -> Option<&str> {
                Some(&self.api_base_url)
            }
        });
    };
    ($config:ty, $name:expr, |$this:ident, $credentials:ident, $clock:ident| $build:expr) => {
        $crate::storefront_settings!(@impl $config, $name, |$this, $credentials, $clock| $build, {});
    };
    (@impl $config:ty, $name:expr, |$this:ident, $credentials:ident, $clock:ident| $build:expr, {$($api:tt)*}) => {
        impl $crate::storefront::StorefrontSettings for $config {
            $($api)*

            fn name(&self) -> &'static str {
                $name
            }

            fn secret(&self) -> Option<&$crate::secret::Secret> {
                self.secret.as_ref()
            }

            fn secret_file(&self) -> Option<&std::path::Path> {
                self.secret_file.as_deref()
            }

            fn on_refund(&self) -> $crate::storefront::RefundPolicy {
                self.on_refund
            }

            fn products(&self) -> &std::collections::BTreeMap<String, $crate::storefront::ProductMapping> {
                &self.products
            }

            fn storefront(
                &self,
                $credentials: $crate::storefront::StorefrontCredentials<'_>,
                $clock: std::sync::Arc<dyn $crate::clock::Clock>,
            ) -> std::sync::Arc<dyn $crate::storefront::Storefront> {
                let $this = self;
                $build
            }
        }
    };
}

/// A storefront's webhook dialect. Authenticating and parsing are
/// synchronous and free of I/O: they check and translate what was received.
/// Only [`complete`](Self::complete) may ask the storefront's API, for what
/// its events do not carry.
#[async_trait::async_trait]
pub trait Storefront: Send + Sync + 'static {
    /// The storefront's name (`gumroad`): the `source` of its licenses and the
    /// actor `storefront:<name>` of their audit events.
    fn name(&self) -> &str;

    /// The query parameters of its requests that are credentials (Gumroad's
    /// `?secret=`): never stored with the event. Default: none.
    fn secret_query_parameters(&self) -> &'static [&'static str] {
        &[]
    }

    /// Checks the request's credentials (secret, signature, seller). MUST return
    /// `StorefrontError::Unauthenticated` for anything not provably from the
    /// storefront, before the request is stored.
    fn authenticate(&self, request: &InboundRequest) -> Result<(), StorefrontError>;

    /// Translates an authenticated request. MUST return
    /// `StorefrontError::Malformed` naming what is missing or unreadable, and
    /// `StorefrontError::Ignored` for events Tessera deliberately does not act on.
    fn parse(&self, request: &InboundRequest) -> Result<StorefrontEvent, StorefrontError>;

    /// Fills in what the delivery does not carry (Paddle's buyer email,
    /// Stripe's purchased price) by asking the storefront's API; called after
    /// `parse` each time the event is processed, so a replay asks again.
    /// MUST return `StorefrontError::Unavailable` when the API cannot answer
    /// (unreachable, 5xx, refused key): the event is kept failed and
    /// replayable. Default: the event as parsed.
    async fn complete(
        &self,
        request: &InboundRequest,
        event: StorefrontEvent,
    ) -> Result<StorefrontEvent, StorefrontError> {
        let _ = request;
        Ok(event)
    }
}
