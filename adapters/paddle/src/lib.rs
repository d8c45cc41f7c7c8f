//! Paddle Billing's notifications as storefront events, built from Paddle's
//! developer documentation (developer.paddle.com: "Verify webhook
//! signatures", "Handle provisioning and fulfillment", the `transaction`,
//! `subscription` and `adjustment` entities and their `*.completed` /
//! `*.updated` / `*.created` events, "Get a customer") and the official
//! SDK's verification (`@paddle/paddle-node-sdk` `Webhooks.unmarshal`).
//!
//! `Paddle-Signature: ts=<unix>;h1=<hex>[;h1=<hex>…]`: each `h1` is the
//! HMAC-SHA256 of `<ts>:<raw body>` keyed with the notification
//! destination's secret key (`pdl_ntfset_…`, as text); while a secret is
//! being rotated Paddle sends one `h1` per valid secret and any one
//! matching is enough. A `ts` further from now than the tolerance (5 s, the
//! SDK's; configurable for a machine whose clock drifts) is refused.
//!
//! - `transaction.completed` → a sale (origin `web` or `api`; the first
//!   transaction of a subscription names it) or, with origin
//!   `subscription_recurring`, a recurring charge. Mapped by the first
//!   item's price id. A transaction names its customer by id only, so
//!   [`complete`](Storefront::complete) asks `GET /customers/{id}` for the
//!   email and name a license is issued to.
//! - `subscription.updated` → a plan change (the first item's price) that
//!   also says whether it renews: a scheduled `cancel` or `pause` stops
//!   renewal, none resumes it; `subscription.paused` stops renewal,
//!   `.resumed` resumes it; `subscription.canceled` → ended; `.past_due` is
//!   recorded only (Paddle retries the payment, the license runs to the end
//!   of what was paid).
//! - `adjustment.created` / `.updated`, approved: a full `refund` → refund,
//!   `chargeback` → dispute, `chargeback_reverse` → dispute won; partial
//!   refunds and credits leave the license as it is.

use std::sync::Arc;

use serde_json::Value;
use tessera_domain::clock::Clock;
use tessera_domain::secret::Secret;
use tessera_domain::storefront::{
    EventKind, InboundRequest, ProductMapping, RefundPolicy, Storefront, StorefrontError, StorefrontEvent,
};
use tessera_storefront_kit::api::{is_plain_id, ProviderApi};
use tessera_storefront_kit::json;
use tessera_storefront_kit::signature::{SigningKey, TimestampedHeader};

/// The storefront name: `source` of its licenses, actor `storefront:paddle`.
pub const NAME: &str = "paddle";
pub const SIGNATURE_HEADER: &str = "paddle-signature";
/// `Paddle-Signature: ts=<unix>;h1=<hex HMAC-SHA256 of "ts:body">[;h1=…]`.
const SIGNATURE: TimestampedHeader =
    TimestampedHeader { header: SIGNATURE_HEADER, pairs: ';', timestamp: "ts", tag: "h1", joiner: b':' };
/// The official SDKs' tolerance.
pub const DEFAULT_TOLERANCE_SECONDS: i64 = 5;
pub const DEFAULT_API_BASE_URL: &str = "https://api.paddle.com";

pub struct PaddleStorefront {
    key: SigningKey,
    clock: Arc<dyn Clock>,
    tolerance_seconds: i64,
    api: ProviderApi,
}

impl PaddleStorefront {
    pub fn new(secret: &str, api_key: &str, api_base_url: &str, tolerance_seconds: i64, clock: Arc<dyn Clock>) -> Self {
        Self {
            key: SigningKey::new(secret.as_bytes()),
            clock,
            tolerance_seconds,
            api: ProviderApi::new("Paddle", api_base_url, api_key),
        }
    }

    /// The `Paddle-Signature` Paddle sends with `body` at unix time `timestamp`.
    pub fn sign(&self, timestamp: i64, body: &[u8]) -> String {
        SIGNATURE.sign(&self.key, timestamp, body)
    }
}

/// The first item's price id and billing cycle (`items[0].price`).
fn first_price(entity: &Value) -> (String, Option<u32>) {
    let price = json::text(entity, "/items/0/price/id").unwrap_or_default();
    let period = json::text(entity, "/items/0/price/billing_cycle/interval").and_then(|interval| {
        json::period_days(&interval, json::integer(entity, "/items/0/price/billing_cycle/frequency").unwrap_or(1))
    });
    (price, period)
}

fn transaction(entity: &Value) -> Result<StorefrontEvent, StorefrontError> {
    let kind = match json::text(entity, "/origin").as_deref() {
        Some("web" | "api") | None => EventKind::Sale,
        Some("subscription_recurring") => EventKind::RecurringCharge,
        Some(other) => {
            return Err(StorefrontError::ignored(format!(
                "a `{other}` transaction (proration or payment method change)"
            )))
        }
    };
    let mut event = StorefrontEvent::new(kind);
    event.sale_id = Some(json::required(entity, "/id", "the transaction")?);
    event.subscription_id = json::text(entity, "/subscription_id");
    if kind == EventKind::RecurringCharge && event.subscription_id.is_none() {
        return Err(StorefrontError::Malformed("a recurring transaction names no subscription_id".into()));
    }
    (event.product_ref, event.billing_period_days) = first_price(entity);
    if event.product_ref.is_empty() {
        return Err(StorefrontError::Malformed("the transaction has no items[0].price.id".into()));
    }
    event.occurred_at = json::time(entity, "/billed_at").or_else(|| json::time(entity, "/created_at"));
    Ok(event)
}

fn subscription(event_type: &str, entity: &Value) -> Result<StorefrontEvent, StorefrontError> {
    let scheduled = json::text(entity, "/scheduled_change/action");
    let kind = match event_type {
        "subscription.updated" => EventKind::SubscriptionUpdated,
        "subscription.paused" => EventKind::Cancellation,
        // Paddle retries the payment: the license runs to the end of what was
        // paid, and the next charge extends it as usual.
        "subscription.past_due" => return Err(StorefrontError::ignored("a payment is past due; Paddle retries it")),
        "subscription.resumed" => EventKind::SubscriptionRestarted,
        "subscription.canceled" => EventKind::SubscriptionEnded,
        other => return Err(StorefrontError::ignored(format!("Paddle event `{other}`"))),
    };
    let mut event = StorefrontEvent::new(kind);
    event.subscription_id = Some(json::required(entity, "/id", "the subscription")?);
    (event.product_ref, event.billing_period_days) = first_price(entity);
    event.occurred_at = match kind {
        EventKind::SubscriptionEnded => json::time(entity, "/canceled_at"),
        EventKind::Cancellation => json::time(entity, "/paused_at"),
        _ => None,
    }
    .or_else(|| json::time(entity, "/updated_at"));
    if kind == EventKind::SubscriptionUpdated {
        if event.product_ref.is_empty() {
            return Err(StorefrontError::Malformed("the subscription has no items[0].price.id".into()));
        }
        let stops = matches!(scheduled.as_deref(), Some("cancel" | "pause"));
        event.renewing = Some(!stops && json::text(entity, "/status").as_deref() != Some("canceled"));
        event.reason = scheduled.map(|action| format!("{action} scheduled at Paddle"));
    } else {
        event.reason = Some(event_type.trim_start_matches("subscription.").replace('_', " "));
    }
    Ok(event)
}

fn adjustment(entity: &Value) -> Result<StorefrontEvent, StorefrontError> {
    let action = json::text(entity, "/action").unwrap_or_default();
    if json::text(entity, "/status").as_deref() != Some("approved") {
        return Err(StorefrontError::ignored(format!("a {action} adjustment that is not approved (yet)")));
    }
    let kind = match action.as_str() {
        "refund" => EventKind::Refund,
        "chargeback" => EventKind::Dispute,
        "chargeback_reverse" => EventKind::DisputeWon,
        other => return Err(StorefrontError::ignored(format!("a `{other}` adjustment"))),
    };
    let full = entity.pointer("/items").and_then(Value::as_array).is_some_and(|items| {
        !items.is_empty() && items.iter().all(|item| json::text(item, "/type").as_deref() == Some("full"))
    });
    if kind == EventKind::Refund && !full {
        return Err(StorefrontError::ignored("a partial refund: the license stays"));
    }
    let mut event = StorefrontEvent::new(kind);
    event.sale_id = Some(json::required(entity, "/transaction_id", "the adjustment")?);
    event.subscription_id = json::text(entity, "/subscription_id");
    event.reason = json::text(entity, "/reason");
    event.occurred_at = json::time(entity, "/updated_at");
    Ok(event)
}

#[async_trait::async_trait]
impl Storefront for PaddleStorefront {
    fn name(&self) -> &str {
        NAME
    }

    fn authenticate(&self, request: &InboundRequest) -> Result<(), StorefrontError> {
        SIGNATURE.verify(&self.key, request, self.clock.now().unix_timestamp(), self.tolerance_seconds)
    }

    fn parse(&self, request: &InboundRequest) -> Result<StorefrontEvent, StorefrontError> {
        let document = json::document(&request.body, "Paddle")?;
        let event_type = json::required(&document, "/event_type", "the notification")?;
        let entity = document
            .pointer("/data")
            .filter(|data| data.is_object())
            .ok_or_else(|| StorefrontError::Malformed("the notification has no data".into()))?;
        let mut event = match event_type.as_str() {
            "transaction.completed" => transaction(entity)?,
            "adjustment.created" | "adjustment.updated" => adjustment(entity)?,
            name if name.starts_with("subscription.") => subscription(name, entity)?,
            other => return Err(StorefrontError::ignored(format!("Paddle event `{other}`"))),
        };
        event.occurred_at = event.occurred_at.or_else(|| json::time(&document, "/occurred_at"));
        Ok(event)
    }

    /// A sale's buyer: the transaction's customer, asked of Paddle.
    async fn complete(
        &self,
        request: &InboundRequest,
        mut event: StorefrontEvent,
    ) -> Result<StorefrontEvent, StorefrontError> {
        if event.kind != EventKind::Sale {
            return Ok(event);
        }
        let document = json::document(&request.body, "Paddle")?;
        let customer = json::required(&document, "/data/customer_id", "the transaction")?;
        if !is_plain_id(&customer) {
            return Err(StorefrontError::Malformed("the customer_id is not a Paddle id".into()));
        }
        let answer = self.api.get(&format!("/customers/{customer}")).await?;
        event.email = Some(
            json::text(&answer, "/data/email")
                .ok_or_else(|| StorefrontError::Unavailable(format!("Paddle's customer {customer} has no email")))?,
        );
        event.name = json::text(&answer, "/data/name");
        Ok(event)
    }
}

/// `[storefronts.paddle]`: the notification destination's secret key, the
/// API key that reads customers, the API's base URL (the sandbox's is
/// `https://sandbox-api.paddle.com`), the signature tolerance, what refunds
/// do and price id → product and tier.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaddleConfig {
    /// The notification destination's secret key (`pdl_ntfset_…`).
    #[serde(default)]
    pub secret: Option<Secret>,
    #[serde(default)]
    pub secret_file: Option<std::path::PathBuf>,
    /// An API key with the `customer.read` permission.
    #[serde(default)]
    pub api_key: Option<Secret>,
    #[serde(default)]
    pub api_key_file: Option<std::path::PathBuf>,
    #[serde(default = "default_api_base_url")]
    pub api_base_url: String,
    #[serde(default = "default_tolerance")]
    pub tolerance_seconds: i64,
    #[serde(default)]
    pub on_refund: RefundPolicy,
    /// Paddle price id → Tessera product and tier.
    #[serde(default)]
    pub products: std::collections::BTreeMap<String, ProductMapping>,
}

fn default_api_base_url() -> String {
    DEFAULT_API_BASE_URL.to_owned()
}

fn default_tolerance() -> i64 {
    DEFAULT_TOLERANCE_SECONDS
}

tessera_domain::storefront_settings!(PaddleConfig, NAME, with_api, |config, credentials, clock| {
    Arc::new(PaddleStorefront::new(
        credentials.secret,
        credentials.api_key.unwrap_or_default(),
        &config.api_base_url,
        config.tolerance_seconds.clamp(1, 3600),
        clock,
    ))
});
