//! Lemon Squeezy's webhooks as storefront events, built from its webhook
//! documentation (docs.lemonsqueezy.com/help/webhooks: "Signing requests",
//! "Event types", the example payloads of `/api/orders`, `/api/subscriptions`
//! and `/api/subscription-invoices`) and its official SDK's
//! (`@lemonsqueezy/lemonsqueezy.js`) webhook types.
//!
//! Every post is the JSON:API document of one object with a `meta` block:
//! `{"meta": {"event_name", "test_mode", "custom_data"}, "data": {"type",
//! "id", "attributes"}}`. `X-Signature` is the hex HMAC-SHA256 of the raw
//! body keyed with the webhook's signing secret; `X-Event-Name` repeats
//! `meta.event_name` (the body is what is read, so a replay, which keeps no
//! headers, reads the same). Lemon Squeezy does not timestamp its
//! signatures: a captured post stays valid, and is harmless, because every
//! event is deduplicated.
//!
//! - `order_created` → a sale of `first_order_item.variant_id`, keyed by the
//!   order id. A subscription purchase sends `order_created` *and*
//!   `subscription_created` for the same order; for the variants listed in
//!   `subscription_variants` the order is left to `subscription_created`,
//!   which names the subscription the license must follow.
//! - `subscription_created` → that sale (the same order id) with its subscription.
//! - `subscription_payment_success` with `billing_reason = "renewal"` → a
//!   recurring charge (the initial payment is the sale itself).
//! - `order_refunded` → refund; `subscription_cancelled` and `_paused` →
//!   renewal stops; `_resumed` and `_unpaused` → it resumes; `_expired` →
//!   the subscription ended; `subscription_updated` → a plan change (to the
//!   tier its variant maps to; a change to the same tier is a duplicate).

use std::collections::BTreeSet;
use std::sync::Arc;

use tessera_domain::secret::Secret;
use tessera_domain::storefront::{
    EventKind, InboundRequest, ProductMapping, RefundPolicy, Storefront, StorefrontError, StorefrontEvent,
};
use tessera_storefront_kit::json;
use tessera_storefront_kit::signature::SigningKey;

/// The storefront name: `source` of its licenses, actor `storefront:lemonsqueezy`.
pub const NAME: &str = "lemonsqueezy";
pub const SIGNATURE_HEADER: &str = "x-signature";

pub struct LemonSqueezyStorefront {
    key: SigningKey,
    subscription_variants: BTreeSet<String>,
}

impl LemonSqueezyStorefront {
    /// `secret`: the webhook's signing secret. `subscription_variants`: the
    /// variant ids sold as subscriptions.
    pub fn new(secret: &str, subscription_variants: BTreeSet<String>) -> Self {
        Self { key: SigningKey::new(secret.as_bytes()), subscription_variants }
    }

    /// The `X-Signature` Lemon Squeezy sends with `body`.
    pub fn sign(&self, body: &[u8]) -> String {
        self.key.sign_hex(body)
    }
}

fn kind_of(event_name: &str) -> Result<EventKind, StorefrontError> {
    Ok(match event_name {
        "order_created" | "subscription_created" => EventKind::Sale,
        "order_refunded" => EventKind::Refund,
        "subscription_payment_success" => EventKind::RecurringCharge,
        "subscription_cancelled" | "subscription_paused" => EventKind::Cancellation,
        "subscription_resumed" | "subscription_unpaused" => EventKind::SubscriptionRestarted,
        "subscription_expired" => EventKind::SubscriptionEnded,
        "subscription_updated" => EventKind::SubscriptionUpdated,
        other => return Err(StorefrontError::ignored(format!("Lemon Squeezy event `{other}`"))),
    })
}

impl Storefront for LemonSqueezyStorefront {
    fn name(&self) -> &str {
        NAME
    }

    fn authenticate(&self, request: &InboundRequest) -> Result<(), StorefrontError> {
        let signature = request
            .header(SIGNATURE_HEADER)
            .ok_or_else(|| StorefrontError::Unauthenticated("no X-Signature header".into()))?;
        if self.key.verifies_any_hex(&request.body, [signature.trim()]) {
            Ok(())
        } else {
            Err(StorefrontError::Unauthenticated("X-Signature does not match the body".into()))
        }
    }

    fn parse(&self, request: &InboundRequest) -> Result<StorefrontEvent, StorefrontError> {
        let document = json::document(&request.body, "Lemon Squeezy")?;
        let event_name = json::required(&document, "/meta/event_name", "the event")?;
        let kind = kind_of(&event_name)?;
        let object = json::required(&document, "/data/id", "the event")?;
        let attribute = |name: &str| json::text(&document, &format!("/data/attributes/{name}"));
        let at = |name: &str| json::time(&document, &format!("/data/attributes/{name}"));
        let mut event = StorefrontEvent {
            email: attribute("user_email"),
            name: attribute("user_name"),
            test: json::flag(&document, "/meta/test_mode") || json::flag(&document, "/data/attributes/test_mode"),
            occurred_at: at("created_at"),
            ..StorefrontEvent::new(kind)
        };
        match event_name.as_str() {
            "order_created" | "order_refunded" => {
                let variant = json::required(&document, "/data/attributes/first_order_item/variant_id", "the order")?;
                if event_name == "order_created" {
                    if attribute("status").is_some_and(|status| status != "paid") {
                        return Err(StorefrontError::Ignored("an order that is not paid".into()));
                    }
                    if self.subscription_variants.contains(&variant) {
                        return Err(StorefrontError::ignored(format!(
                            "variant {variant} is a subscription: its subscription_created makes the license"
                        )));
                    }
                }
                event.sale_id = Some(object);
                event.product_ref = variant;
            }
            "subscription_payment_success" => {
                if attribute("billing_reason").as_deref() != Some("renewal") {
                    return Err(StorefrontError::Ignored(
                        "a subscription's first (or proration) payment: the sale makes the license".into(),
                    ));
                }
                event.sale_id = Some(format!("invoice-{object}"));
                event.subscription_id = Some(
                    attribute("subscription_id")
                        .ok_or_else(|| StorefrontError::Malformed("the invoice has no subscription_id".into()))?,
                );
            }
            _ => {
                // A subscription object.
                event.product_ref = json::required(&document, "/data/attributes/variant_id", "the subscription")?;
                event.subscription_id = Some(object);
                if kind == EventKind::Sale {
                    event.sale_id = Some(
                        attribute("order_id")
                            .ok_or_else(|| StorefrontError::Malformed("the subscription has no order_id".into()))?,
                    );
                } else {
                    event.occurred_at = match kind {
                        EventKind::SubscriptionEnded => at("ends_at").or_else(|| at("updated_at")),
                        _ => at("updated_at"),
                    };
                    event.reason = Some(event_name.replace('_', " "));
                }
            }
        }
        Ok(event)
    }
}

/// `[storefronts.lemonsqueezy]`: the webhook's signing secret, what refunds
/// do, variant id → product and tier, and which variants are subscriptions.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LemonSqueezyConfig {
    /// The signing secret typed when the webhook was created.
    #[serde(default)]
    pub secret: Option<Secret>,
    #[serde(default)]
    pub secret_file: Option<std::path::PathBuf>,
    #[serde(default)]
    pub on_refund: RefundPolicy,
    /// Lemon Squeezy variant id → Tessera product and tier.
    #[serde(default)]
    pub products: std::collections::BTreeMap<String, ProductMapping>,
    /// Variant ids sold as subscriptions: their licenses follow the subscription.
    #[serde(default)]
    pub subscription_variants: BTreeSet<String>,
}

tessera_domain::storefront_settings!(LemonSqueezyConfig, NAME, |config, credentials, _clock| {
    Arc::new(LemonSqueezyStorefront::new(credentials.secret, config.subscription_variants.clone()))
});
