//! Stripe's webhooks as storefront events, built from Stripe's documentation
//! (docs.stripe.com/webhooks "Verify webhook signatures manually",
//! docs.stripe.com/payments/checkout/fulfill-orders, the `Event`,
//! `Checkout Session`, `Invoice`, `Subscription`, `Charge` and `Dispute`
//! object references) and the official SDK's verification
//! (`stripe-node` `Webhooks.constructEvent`, `stripe-python`
//! `WebhookSignature.verify_header`).
//!
//! `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…][,v0=…]`: each `v1` is the
//! HMAC-SHA256 of `<t>.<raw body>` keyed with the endpoint's whole signing
//! secret (`whsec_…`, as text); any one matching is enough (Stripe sends one
//! per secret while a rolled secret is still valid), `v0` is ignored, and a
//! `t` more than 300 seconds from now is refused.
//!
//! - `checkout.session.completed` (paid) and
//!   `checkout.session.async_payment_succeeded` → a sale. The session does
//!   not carry its line items, so [`complete`](Storefront::complete) lists
//!   them (`GET /v1/checkout/sessions/{id}/line_items`) for the price id the
//!   mapping is keyed by. The sale is the payment intent (payment mode) or
//!   the first invoice (subscription mode): what refunds and disputes name.
//! - `invoice.paid` for `subscription_cycle` → a recurring charge.
//! - `customer.subscription.updated` → cancellation when it is set to cancel
//!   (`cancel_at_period_end` or `cancel_at` newly set), a restart when that
//!   is undone, a plan change when its price changed;
//!   `customer.subscription.deleted` → the subscription ended.
//! - `charge.refunded` (in full) → refund; `charge.dispute.created` →
//!   dispute; `charge.dispute.closed` as `won` → dispute won. A charge that
//!   names only its payment intent (API versions from 2025-03-31 on) is
//!   completed with the invoice that intent paid (`GET /v1/invoice_payments`)
//!   and that invoice's subscription, so a subscription's refund finds its
//!   license.

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

/// The storefront name: `source` of its licenses, actor `storefront:stripe`.
pub const NAME: &str = "stripe";
pub const SIGNATURE_HEADER: &str = "stripe-signature";
/// `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">[,v1=…]`; `v0` is never read.
const SIGNATURE: TimestampedHeader =
    TimestampedHeader { header: SIGNATURE_HEADER, pairs: ',', timestamp: "t", tag: "v1", joiner: b'.' };
/// Stripe's SDKs' default tolerance.
pub const TOLERANCE_SECONDS: i64 = 300;
pub const DEFAULT_API_BASE_URL: &str = "https://api.stripe.com";
/// The first API version with Invoice Payments (`GET /v1/invoice_payments`).
pub const INVOICE_PAYMENTS_API_VERSION: &str = "2025-03-31.basil";

pub struct StripeStorefront {
    key: SigningKey,
    clock: Arc<dyn Clock>,
    api: ProviderApi,
}

impl StripeStorefront {
    pub fn new(secret: &str, api_key: &str, api_base_url: &str, clock: Arc<dyn Clock>) -> Self {
        Self { key: SigningKey::new(secret.as_bytes()), clock, api: ProviderApi::new("Stripe", api_base_url, api_key) }
    }

    /// The `Stripe-Signature` Stripe sends with `body` at unix time `timestamp`.
    pub fn sign(&self, timestamp: i64, body: &[u8]) -> String {
        SIGNATURE.sign(&self.key, timestamp, body)
    }
}

/// The sale a charge or dispute belongs to: the invoice it paid (API
/// versions that still name it), else its payment intent.
fn sale_of_charge(object: &Value) -> Option<String> {
    json::first_text(object, &["/invoice", "/payment_intent"])
}

/// A subscription object's price (`items.data[0].price.id`) and billing period.
fn subscription_price(subscription: &Value) -> (Option<String>, Option<u32>) {
    let price = json::text(subscription, "/items/data/0/price/id");
    (price, recurring_days(subscription, "/items/data/0/price/recurring"))
}

fn recurring_days(value: &Value, pointer: &str) -> Option<u32> {
    let interval = json::text(value, &format!("{pointer}/interval"))?;
    json::period_days(&interval, json::integer(value, &format!("{pointer}/interval_count")).unwrap_or(1))
}

impl StripeStorefront {
    fn checkout_sale(object: &Value) -> Result<StorefrontEvent, StorefrontError> {
        match json::text(object, "/mode").as_deref() {
            Some("payment" | "subscription") => {}
            other => {
                return Err(StorefrontError::ignored(format!("a Checkout Session in `{}` mode", other.unwrap_or("no"))))
            }
        }
        if json::text(object, "/payment_status").as_deref() == Some("unpaid") {
            return Err(StorefrontError::ignored(
                "not paid yet: checkout.session.async_payment_succeeded makes the sale",
            ));
        }
        let mut event = StorefrontEvent::new(EventKind::Sale);
        event.subscription_id = json::text(object, "/subscription");
        event.sale_id = Some(json::first_text(object, &["/payment_intent", "/invoice"]).ok_or_else(|| {
            StorefrontError::Malformed("the Checkout Session has no payment_intent or invoice".into())
        })?);
        event.email = json::first_text(object, &["/customer_details/email", "/customer_email"]);
        event.name = json::text(object, "/customer_details/name");
        event.occurred_at = json::time(object, "/created");
        Ok(event)
    }

    fn renewal(object: &Value) -> Result<StorefrontEvent, StorefrontError> {
        match json::text(object, "/billing_reason").as_deref() {
            Some("subscription_cycle") => {}
            Some("subscription_create") => {
                return Err(StorefrontError::ignored(
                    "the subscription's first invoice: the Checkout Session makes the sale",
                ))
            }
            other => {
                return Err(StorefrontError::ignored(format!("an invoice for `{}`", other.unwrap_or("no reason"))))
            }
        }
        let mut event = StorefrontEvent::new(EventKind::RecurringCharge);
        event.sale_id = Some(json::required(object, "/id", "the invoice")?);
        // `invoice.subscription` before API version 2025-03-31, `parent.subscription_details` after.
        event.subscription_id = Some(
            json::first_text(object, &["/subscription", "/parent/subscription_details/subscription"])
                .ok_or_else(|| StorefrontError::Malformed("the invoice names no subscription".into()))?,
        );
        event.product_ref =
            json::first_text(object, &["/lines/data/0/price/id", "/lines/data/0/pricing/price_details/price"])
                .unwrap_or_default();
        event.billing_period_days = recurring_days(object, "/lines/data/0/price/recurring").or_else(|| {
            let start = json::integer(object, "/lines/data/0/period/start")?;
            let end = json::integer(object, "/lines/data/0/period/end")?;
            u32::try_from((end - start + 86_399) / 86_400).ok()
        });
        event.occurred_at =
            json::time(object, "/status_transitions/paid_at").or_else(|| json::time(object, "/created"));
        event.email = json::text(object, "/customer_email");
        Ok(event)
    }

    fn subscription_change(
        object: &Value,
        previous: &Value,
        deleted: bool,
    ) -> Result<StorefrontEvent, StorefrontError> {
        let id = json::required(object, "/id", "the subscription")?;
        let kind = if deleted {
            EventKind::SubscriptionEnded
        } else if previous.get("items").is_some() {
            EventKind::SubscriptionUpdated
        } else {
            let set_to_cancel =
                json::flag(object, "/cancel_at_period_end") || json::integer(object, "/cancel_at").is_some();
            let was_set = match (previous.get("cancel_at_period_end"), previous.get("cancel_at")) {
                (Some(was), _) => was.as_bool() == Some(true),
                (None, Some(was)) => !was.is_null(),
                (None, None) => {
                    return Err(StorefrontError::ignored(
                        "a subscription update that changes neither its plan nor its renewal",
                    ))
                }
            };
            match (was_set, set_to_cancel) {
                (false, true) => EventKind::Cancellation,
                (true, false) => EventKind::SubscriptionRestarted,
                _ => {
                    return Err(StorefrontError::ignored(
                        "a subscription update that changes neither its plan nor its renewal",
                    ))
                }
            }
        };
        let mut event = StorefrontEvent::new(kind);
        event.subscription_id = Some(id);
        let (price, period) = subscription_price(object);
        event.product_ref = price.unwrap_or_default();
        event.billing_period_days = period;
        event.occurred_at = match kind {
            EventKind::SubscriptionEnded => {
                json::time(object, "/ended_at").or_else(|| json::time(object, "/canceled_at"))
            }
            EventKind::Cancellation => json::time(object, "/canceled_at"),
            _ => None,
        };
        event.reason = json::text(object, "/cancellation_details/reason");
        Ok(event)
    }
}

#[async_trait::async_trait]
impl Storefront for StripeStorefront {
    fn name(&self) -> &str {
        NAME
    }

    fn authenticate(&self, request: &InboundRequest) -> Result<(), StorefrontError> {
        SIGNATURE.verify(&self.key, request, self.clock.now().unix_timestamp(), TOLERANCE_SECONDS)
    }

    fn parse(&self, request: &InboundRequest) -> Result<StorefrontEvent, StorefrontError> {
        let document = json::document(&request.body, "Stripe")?;
        let event_type = json::required(&document, "/type", "the event")?;
        let object = document
            .pointer("/data/object")
            .filter(|object| object.is_object())
            .ok_or_else(|| StorefrontError::Malformed("the event has no data.object".into()))?;
        let previous = document.pointer("/data/previous_attributes").cloned().unwrap_or(Value::Null);
        let mut event = match event_type.as_str() {
            "checkout.session.completed" | "checkout.session.async_payment_succeeded" => Self::checkout_sale(object)?,
            "invoice.paid" => Self::renewal(object)?,
            "customer.subscription.updated" => Self::subscription_change(object, &previous, false)?,
            "customer.subscription.deleted" => Self::subscription_change(object, &previous, true)?,
            "charge.refunded" => {
                let amount = json::integer(object, "/amount");
                if !json::flag(object, "/refunded") || amount != json::integer(object, "/amount_refunded") {
                    return Err(StorefrontError::ignored("a partial refund: the license stays"));
                }
                let mut event = StorefrontEvent::new(EventKind::Refund);
                event.sale_id = sale_of_charge(object);
                event
            }
            "charge.dispute.created" | "charge.dispute.closed" => {
                let kind = if event_type.ends_with("created") {
                    EventKind::Dispute
                } else if json::text(object, "/status").as_deref() == Some("won") {
                    EventKind::DisputeWon
                } else {
                    return Err(StorefrontError::ignored("a dispute closed as lost: the license stays suspended"));
                };
                let mut event = StorefrontEvent::new(kind);
                event.sale_id = sale_of_charge(object);
                event.reason = json::text(object, "/reason");
                event
            }
            other => return Err(StorefrontError::ignored(format!("Stripe event `{other}`"))),
        };
        if !event.kind.is_subscription_only() && event.sale_id.is_none() {
            return Err(StorefrontError::Malformed(format!("a {} names no payment intent or invoice", event.kind)));
        }
        event.test = !json::flag(&document, "/livemode");
        event.occurred_at = event.occurred_at.or_else(|| json::time(&document, "/created"));
        Ok(event)
    }

    /// A sale's price: the session's first line item. A refund's or dispute's
    /// invoice, when its charge names only the payment intent (API versions
    /// from 2025-03-31 on): a subscription's payments are invoices.
    async fn complete(
        &self,
        request: &InboundRequest,
        event: StorefrontEvent,
    ) -> Result<StorefrontEvent, StorefrontError> {
        match event.kind {
            EventKind::Sale => self.with_price(request, event).await,
            EventKind::Refund | EventKind::Dispute | EventKind::DisputeWon => self.with_invoice(event).await,
            _ => Ok(event),
        }
    }
}

impl StripeStorefront {
    async fn with_price(
        &self,
        request: &InboundRequest,
        mut event: StorefrontEvent,
    ) -> Result<StorefrontEvent, StorefrontError> {
        let document = json::document(&request.body, "Stripe")?;
        let session = json::required(&document, "/data/object/id", "the Checkout Session")?;
        if !is_plain_id(&session) {
            return Err(StorefrontError::Malformed("the Checkout Session id is not a Stripe id".into()));
        }
        let items = self.api.get(&format!("/v1/checkout/sessions/{session}/line_items?limit=1")).await?;
        event.product_ref = json::text(&items, "/data/0/price/id")
            .ok_or_else(|| StorefrontError::Unavailable(format!("Stripe listed no priced line item for {session}")))?;
        event.billing_period_days = recurring_days(&items, "/data/0/price/recurring");
        Ok(event)
    }

    /// The invoice (and its subscription) a payment intent paid, if any: the
    /// sale of a subscription is its first invoice, and a renewal's refund
    /// acts through its subscription. Asked with the API version that has
    /// Invoice Payments, whatever the account's default.
    async fn with_invoice(&self, mut event: StorefrontEvent) -> Result<StorefrontEvent, StorefrontError> {
        let Some(intent) = event.sale_id.clone().filter(|id| id.starts_with("pi_")) else { return Ok(event) };
        if !is_plain_id(&intent) {
            return Err(StorefrontError::Malformed("the payment intent id is not a Stripe id".into()));
        }
        let version = [("Stripe-Version", INVOICE_PAYMENTS_API_VERSION)];
        let path = format!(
            "/v1/invoice_payments?payment%5Btype%5D=payment_intent&payment%5Bpayment_intent%5D={intent}&limit=1"
        );
        let payments = self.api.get_with(&path, &version).await?;
        // No invoice: a one-time payment, the sale itself.
        let Some(invoice) = json::text(&payments, "/data/0/invoice").filter(|invoice| is_plain_id(invoice)) else {
            return Ok(event);
        };
        let found = self.api.get_with(&format!("/v1/invoices/{invoice}"), &version).await?;
        event.subscription_id =
            json::first_text(&found, &["/parent/subscription_details/subscription", "/subscription"]);
        event.sale_id = Some(invoice);
        Ok(event)
    }
}

/// `[storefronts.stripe]`: the endpoint's signing secret, the API key that
/// lists a session's line items, what refunds do, price id → product and tier.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StripeConfig {
    /// The endpoint's signing secret (`whsec_…`).
    #[serde(default)]
    pub secret: Option<Secret>,
    #[serde(default)]
    pub secret_file: Option<std::path::PathBuf>,
    /// A restricted key with read access to Checkout Sessions (`rk_…`) or a secret key.
    #[serde(default)]
    pub api_key: Option<Secret>,
    #[serde(default)]
    pub api_key_file: Option<std::path::PathBuf>,
    #[serde(default = "default_api_base_url")]
    pub api_base_url: String,
    #[serde(default)]
    pub on_refund: RefundPolicy,
    /// Stripe price id → Tessera product and tier.
    #[serde(default)]
    pub products: std::collections::BTreeMap<String, ProductMapping>,
}

fn default_api_base_url() -> String {
    DEFAULT_API_BASE_URL.to_owned()
}

tessera_domain::storefront_settings!(StripeConfig, NAME, with_api, |config, credentials, clock| {
    Arc::new(StripeStorefront::new(
        credentials.secret,
        credentials.api_key.unwrap_or_default(),
        &config.api_base_url,
        clock,
    ))
});
