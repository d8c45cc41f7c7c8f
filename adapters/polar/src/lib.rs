//! Polar's webhooks as storefront events, built from Polar's documentation
//! (docs.polar.sh "Webhooks" / "Handle & monitor webhook deliveries", the
//! `order.*` and `subscription.*` event schemas) and its official SDK's
//! verification (`@polar-sh/sdk/webhooks` `validateEvent`), which follows
//! Standard Webhooks (standardwebhooks.com).
//!
//! Each post has `webhook-id`, `webhook-timestamp` (unix seconds) and
//! `webhook-signature`: space-separated `v1,<base64>` entries, each an
//! HMAC-SHA256 of `<id>.<timestamp>.<raw body>`; any one matching is enough
//! (several during a secret's rotation), and a timestamp more than five
//! minutes from now is refused. The key depends on when the endpoint was
//! made: endpoints created before 2026-09-08 are signed with the raw UTF-8
//! bytes of the whole `whsec_…` secret (what `validateEvent` does by
//! base64-encoding the secret before handing it to Standard Webhooks);
//! newer ones with the standard key, the base64-decoded part after `whsec_`.
//! Both are accepted, as Polar's current SDK does.
//!
//! - `order.paid` → a sale (`billing_reason` `purchase` or
//!   `subscription_create`; mapped by `product_id`, issued to
//!   `customer.email`) or, for `subscription_cycle`, a recurring charge.
//! - `order.refunded` (in full) → refund.
//! - `subscription.canceled` → renewal stops; `.uncanceled` → it resumes;
//!   `.revoked` → the subscription ended; `.updated` → a plan change (to its
//!   `product_id`) that also says whether it renews.

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;
use tessera_domain::clock::Clock;
use tessera_domain::secret::Secret;
use tessera_domain::storefront::{
    EventKind, InboundRequest, ProductMapping, RefundPolicy, Storefront, StorefrontError, StorefrontEvent,
};
use tessera_storefront_kit::json;
use tessera_storefront_kit::signature::{signed_payload, within_window, SigningKey};

/// The storefront name: `source` of its licenses, actor `storefront:polar`.
pub const NAME: &str = "polar";
/// Standard Webhooks' tolerance.
pub const TOLERANCE_SECONDS: i64 = 300;

pub struct PolarStorefront {
    /// The standard key first (newer endpoints), then the raw-secret key.
    keys: Vec<SigningKey>,
    clock: Arc<dyn Clock>,
}

/// Which key an endpoint's signatures use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyScheme {
    /// The base64-decoded part after `whsec_` (endpoints from 2026-09-08).
    Standard,
    /// The raw UTF-8 bytes of the whole secret (older endpoints).
    RawSecret,
}

fn key_bytes(secret: &str, scheme: KeyScheme) -> Option<Vec<u8>> {
    match scheme {
        KeyScheme::Standard => STANDARD.decode(secret.strip_prefix("whsec_").unwrap_or(secret)).ok(),
        KeyScheme::RawSecret => Some(secret.as_bytes().to_vec()),
    }
}

impl PolarStorefront {
    pub fn new(secret: &str, clock: Arc<dyn Clock>) -> Self {
        let keys = [KeyScheme::Standard, KeyScheme::RawSecret]
            .into_iter()
            .filter_map(|scheme| key_bytes(secret, scheme))
            .map(|bytes| SigningKey::new(&bytes))
            .collect();
        Self { keys, clock }
    }

    /// The `webhook-signature` Polar sends for this delivery under `scheme`.
    pub fn sign(secret: &str, scheme: KeyScheme, id: &str, timestamp: i64, body: &[u8]) -> String {
        let key = SigningKey::new(&key_bytes(secret, scheme).expect("a base64 secret"));
        let tag = key.sign(&signed_payload(&[id.as_bytes(), timestamp.to_string().as_bytes()], b'.', body));
        format!("v1,{}", STANDARD.encode(tag))
    }
}

/// A subscription's billing period from its `recurring_interval` (and count).
fn period_of(subscription: &Value) -> Option<u32> {
    let interval = json::text(subscription, "/recurring_interval")?;
    json::period_days(&interval, json::integer(subscription, "/recurring_interval_count").unwrap_or(1))
}

fn order(event_type: &str, order: &Value) -> Result<StorefrontEvent, StorefrontError> {
    let kind = if event_type == "order.refunded" {
        if json::text(order, "/status").as_deref() != Some("refunded") {
            return Err(StorefrontError::ignored("a partial refund: the license stays"));
        }
        EventKind::Refund
    } else {
        match json::text(order, "/billing_reason").as_deref() {
            Some("purchase" | "subscription_create") | None => EventKind::Sale,
            Some("subscription_cycle") => EventKind::RecurringCharge,
            Some(other) => return Err(StorefrontError::ignored(format!("an order for `{other}`"))),
        }
    };
    let mut event = StorefrontEvent::new(kind);
    event.sale_id = Some(json::required(order, "/id", "the order")?);
    event.subscription_id = json::text(order, "/subscription_id");
    event.product_ref = json::first_text(order, &["/product_id", "/product/id"]).unwrap_or_default();
    event.email = json::text(order, "/customer/email");
    event.name = json::first_text(order, &["/customer/name", "/billing_name"]);
    event.billing_period_days =
        order.get("subscription").and_then(period_of).or_else(|| order.get("product").and_then(period_of));
    event.occurred_at = json::time(order, "/created_at");
    if kind == EventKind::RecurringCharge && event.subscription_id.is_none() {
        return Err(StorefrontError::Malformed("a subscription_cycle order names no subscription_id".into()));
    }
    if kind == EventKind::Sale && event.product_ref.is_empty() {
        return Err(StorefrontError::Malformed("the order has no product_id".into()));
    }
    Ok(event)
}

fn subscription(event_type: &str, subscription: &Value) -> Result<StorefrontEvent, StorefrontError> {
    let kind = match event_type {
        "subscription.canceled" => EventKind::Cancellation,
        "subscription.uncanceled" => EventKind::SubscriptionRestarted,
        "subscription.revoked" => EventKind::SubscriptionEnded,
        "subscription.updated" => EventKind::SubscriptionUpdated,
        "subscription.active" | "subscription.created" => {
            return Err(StorefrontError::ignored("the subscription's order.paid makes the license"))
        }
        other => return Err(StorefrontError::ignored(format!("Polar event `{other}`"))),
    };
    let mut event = StorefrontEvent::new(kind);
    event.subscription_id = Some(json::required(subscription, "/id", "the subscription")?);
    event.product_ref = json::first_text(subscription, &["/product_id", "/product/id"]).unwrap_or_default();
    event.billing_period_days = period_of(subscription);
    event.occurred_at = match kind {
        EventKind::Cancellation => json::time(subscription, "/canceled_at"),
        EventKind::SubscriptionEnded => json::time(subscription, "/ended_at"),
        _ => None,
    }
    .or_else(|| json::time(subscription, "/modified_at"));
    event.reason = json::text(subscription, "/customer_cancellation_reason");
    if kind == EventKind::SubscriptionUpdated {
        if event.product_ref.is_empty() {
            return Err(StorefrontError::Malformed("the subscription has no product_id".into()));
        }
        let status = json::text(subscription, "/status").unwrap_or_default();
        event.renewing = Some(
            !json::flag(subscription, "/cancel_at_period_end") && !matches!(status.as_str(), "canceled" | "unpaid"),
        );
    }
    Ok(event)
}

impl Storefront for PolarStorefront {
    fn name(&self) -> &str {
        NAME
    }

    fn authenticate(&self, request: &InboundRequest) -> Result<(), StorefrontError> {
        let refuse = |why: &str| Err(StorefrontError::Unauthenticated(why.to_owned()));
        let (Some(id), Some(timestamp), Some(signatures)) =
            (request.header("webhook-id"), request.header("webhook-timestamp"), request.header("webhook-signature"))
        else {
            return refuse("webhook-id, webhook-timestamp and webhook-signature are required");
        };
        if !within_window(timestamp.trim(), self.clock.now().unix_timestamp(), TOLERANCE_SECONDS) {
            return refuse("the webhook-timestamp is more than five minutes from now");
        }
        let payload = signed_payload(&[id.trim().as_bytes(), timestamp.trim().as_bytes()], b'.', &request.body);
        let tags: Vec<Vec<u8>> = signatures
            .split_whitespace()
            .filter_map(|entry| entry.strip_prefix("v1,"))
            .filter_map(|tag| STANDARD.decode(tag).ok())
            .collect();
        if self.keys.iter().any(|key| tags.iter().any(|tag| key.verifies(&payload, tag))) {
            Ok(())
        } else {
            refuse("no v1 signature matches")
        }
    }

    fn parse(&self, request: &InboundRequest) -> Result<StorefrontEvent, StorefrontError> {
        let document = json::document(&request.body, "Polar")?;
        let event_type = json::required(&document, "/type", "the event")?;
        let data = document
            .pointer("/data")
            .filter(|data| data.is_object())
            .ok_or_else(|| StorefrontError::Malformed("the event has no data".into()))?;
        let mut event = match event_type.as_str() {
            "order.paid" | "order.refunded" => order(&event_type, data)?,
            name if name.starts_with("subscription.") => subscription(name, data)?,
            other => return Err(StorefrontError::ignored(format!("Polar event `{other}`"))),
        };
        event.occurred_at = event.occurred_at.or_else(|| json::time(&document, "/timestamp"));
        Ok(event)
    }
}

/// `[storefronts.polar]`: the endpoint's secret (`whsec_…`), what refunds do
/// and Polar product id → product and tier.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolarConfig {
    #[serde(default)]
    pub secret: Option<Secret>,
    #[serde(default)]
    pub secret_file: Option<std::path::PathBuf>,
    #[serde(default)]
    pub on_refund: RefundPolicy,
    /// Polar product id → Tessera product and tier.
    #[serde(default)]
    pub products: std::collections::BTreeMap<String, ProductMapping>,
}

tessera_domain::storefront_settings!(PolarConfig, NAME, |_config, credentials, clock| {
    Arc::new(PolarStorefront::new(credentials.secret, clock))
});
