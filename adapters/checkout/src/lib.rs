//! [`CheckoutStorefront`]: webhooks from a custom checkout (your own site,
//! Paddle/Stripe glue, …) as storefront events. The body is JSON:
//!
//! ```json
//! {"event": "sale", "sale_id": "ord_123", "product_id": "datatools-core",
//!  "email": "ada@example.com", "name": "Ada Lovelace", "variant": "Pro", "test": false}
//! ```
//!
//! `event` is `sale`, `recurring_charge`, `refund`, `dispute`, `dispute_won`,
//! `cancellation`, `subscription_ended`, `subscription_restarted` or
//! `subscription_updated`. The sender signs each request:
//! `Tessera-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`
//! with the shared secret; requests older or newer than five minutes are
//! refused, so a captured request cannot be replayed later.

use std::sync::Arc;

use serde::Deserialize;
use tessera_domain::clock::Clock;
use tessera_domain::secret::Secret;
use tessera_domain::storefront::{
    EventKind, InboundRequest, ProductMapping, RefundPolicy, Storefront, StorefrontError, StorefrontEvent,
};
use tessera_storefront_kit::signature::{SigningKey, TimestampedHeader};
use time::OffsetDateTime;

pub const NAME: &str = "checkout";
pub const SIGNATURE_HEADER: &str = "tessera-signature";
const SIGNATURE: TimestampedHeader =
    TimestampedHeader { header: SIGNATURE_HEADER, pairs: ',', timestamp: "t", tag: "v1", joiner: b'.' };
/// How far a request's timestamp may be from now.
pub const TOLERANCE_SECONDS: i64 = 300;

pub struct CheckoutStorefront {
    key: SigningKey,
    clock: Arc<dyn Clock>,
}

impl CheckoutStorefront {
    pub fn new(secret: &str, clock: Arc<dyn Clock>) -> Self {
        Self { key: SigningKey::new(secret.as_bytes()), clock }
    }

    /// The header value a sender computes for `body` at unix time `timestamp`.
    pub fn sign(&self, timestamp: i64, body: &[u8]) -> String {
        SIGNATURE.sign(&self.key, timestamp, body)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    event: String,
    #[serde(default)]
    sale_id: Option<String>,
    #[serde(default)]
    subscription_id: Option<String>,
    product_id: String,
    #[serde(default)]
    variant: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    test: bool,
    /// A subscription's billing period, in days.
    #[serde(default)]
    period_days: Option<u32>,
    /// RFC 3339.
    #[serde(default, with = "time::serde::rfc3339::option")]
    occurred_at: Option<OffsetDateTime>,
    /// Why (a cancellation's or an end's reason), for the audit log.
    #[serde(default)]
    reason: Option<String>,
}

impl Storefront for CheckoutStorefront {
    fn name(&self) -> &str {
        NAME
    }

    fn authenticate(&self, request: &InboundRequest) -> Result<(), StorefrontError> {
        SIGNATURE.verify(&self.key, request, self.clock.now().unix_timestamp(), TOLERANCE_SECONDS)
    }

    fn parse(&self, request: &InboundRequest) -> Result<StorefrontEvent, StorefrontError> {
        let body: Body = serde_json::from_slice(&request.body)
            .map_err(|error| StorefrontError::Malformed(format!("not a checkout event: {error}")))?;
        let kind = match body.event.as_str() {
            "sale" => EventKind::Sale,
            "recurring_charge" => EventKind::RecurringCharge,
            "refund" => EventKind::Refund,
            "dispute" => EventKind::Dispute,
            "dispute_won" => EventKind::DisputeWon,
            "cancellation" => EventKind::Cancellation,
            "subscription_ended" => EventKind::SubscriptionEnded,
            "subscription_restarted" => EventKind::SubscriptionRestarted,
            "subscription_updated" => EventKind::SubscriptionUpdated,
            other => return Err(StorefrontError::Malformed(format!("unknown event `{other}`"))),
        };
        let present = |value: Option<String>| value.filter(|value| !value.trim().is_empty());
        let sale_id = present(body.sale_id);
        let subscription_id = present(body.subscription_id);
        let subscription_only = kind.is_subscription_only();
        if subscription_only && subscription_id.is_none() {
            return Err(StorefrontError::Malformed(format!("a {kind} event needs subscription_id")));
        }
        if !subscription_only && sale_id.is_none() {
            return Err(StorefrontError::Malformed(format!("a {kind} event needs sale_id")));
        }
        if body.product_id.trim().is_empty() {
            return Err(StorefrontError::Malformed("product_id is empty".into()));
        }
        Ok(StorefrontEvent {
            kind,
            sale_id: if subscription_only { None } else { sale_id },
            subscription_id,
            product_ref: body.product_id,
            variant: present(body.variant),
            email: present(body.email),
            name: present(body.name),
            test: body.test,
            billing_period_days: body.period_days,
            occurred_at: body.occurred_at,
            reason: present(body.reason),
            renewing: None,
        })
    }
}

/// `[storefronts.checkout]`: the HMAC key shared with the checkout, what
/// refunds do and the product mappings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckoutConfig {
    #[serde(default)]
    pub secret: Option<Secret>,
    #[serde(default)]
    pub secret_file: Option<std::path::PathBuf>,
    #[serde(default)]
    pub on_refund: RefundPolicy,
    /// The checkout's product id → Tessera product and tier.
    #[serde(default)]
    pub products: std::collections::BTreeMap<String, ProductMapping>,
}

tessera_domain::storefront_settings!(CheckoutConfig, NAME, |_config, credentials, clock| {
    Arc::new(CheckoutStorefront::new(credentials.secret, clock))
});
