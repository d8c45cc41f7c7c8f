//! Gumroad's webhooks (the "ping" and resource subscriptions) as storefront
//! events. Gumroad posts `application/x-www-form-urlencoded` bodies with
//! bracketed keys (`card[visual]`, `variants[Tier]`, `purchase_ids[]`),
//! booleans as `true`/`false`, and adds `retry_count` to retries. It cannot
//! sign its posts, so the post URL carries a secret (`?secret=…`), compared in
//! constant time; an optional `seller_id` refuses pings naming another seller
//! (subscription pings name none). Resource subscriptions may post JSON
//! instead; it is read into the same keys.

use std::collections::HashMap;

use subtle::ConstantTimeEq;
use tessera_domain::secret::Secret;
use tessera_domain::storefront::{
    EventKind, InboundRequest, ProductMapping, RefundPolicy, Storefront, StorefrontError, StorefrontEvent,
};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// The storefront name: `source` of its licenses, actor `storefront:gumroad`.
pub const NAME: &str = "gumroad";

/// Gumroad as a [`Storefront`].
pub struct GumroadStorefront {
    secret: String,
    seller_id: Option<String>,
}

impl GumroadStorefront {
    /// `secret`: the value of `?secret=` in the post URL configured at Gumroad.
    /// `seller_id`: when set, posts for any other seller are refused.
    pub fn new(secret: impl Into<String>, seller_id: Option<String>) -> Self {
        Self { secret: secret.into(), seller_id }
    }
}

/// The decoded ping. Gumroad posts form-encoded bodies (nested hashes as
/// `new_plan[tier][name]`, arrays as `purchase_ids[]`) or, when the resource
/// subscription asked for it, JSON; both become the same bracketed keys here.
/// Repeated keys (`purchase_ids[]`) keep their first value; nothing Tessera
/// reads is repeated.
struct Form(HashMap<String, String>);

impl Form {
    fn parse(request: &InboundRequest) -> Result<Self, StorefrontError> {
        let body = request.body.as_slice();
        if body.is_empty() {
            return Err(StorefrontError::Malformed("empty body".into()));
        }
        if std::str::from_utf8(body).is_err() {
            return Err(StorefrontError::Malformed("the body is not form-encoded text".into()));
        }
        let json = request.header("content-type").is_some_and(|value| value.contains("json"));
        let mut fields = HashMap::new();
        if json {
            let value: serde_json::Value = serde_json::from_slice(body)
                .map_err(|error| StorefrontError::Malformed(format!("the JSON body does not parse: {error}")))?;
            if !value.is_object() {
                return Err(StorefrontError::Malformed("the JSON body is not an object".into()));
            }
            flatten(None, &value, &mut fields);
        } else {
            for (key, value) in form_urlencoded::parse(body) {
                fields.entry(key.into_owned()).or_insert_with(|| value.into_owned());
            }
        }
        if !fields.contains_key("product_id")
            && !fields.contains_key("resource_name")
            && !fields.contains_key("sale_id")
        {
            return Err(StorefrontError::Malformed(
                "not a Gumroad ping: no product_id, sale_id or resource_name".into(),
            ));
        }
        Ok(Self(fields))
    }

    /// A present, non-empty value.
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|value| value.trim()).filter(|value| !value.is_empty())
    }

    fn flag(&self, key: &str) -> bool {
        self.get(key).is_some_and(|value| value.eq_ignore_ascii_case("true") || value == "1")
    }

    fn time(&self, keys: &[&str]) -> Option<OffsetDateTime> {
        keys.iter().filter_map(|key| self.get(key)).find_map(|value| OffsetDateTime::parse(value, &Rfc3339).ok())
    }

    /// The chosen variant: `variants[Tier]` or the first `variants[…]` key
    /// (Gumroad names the key after the seller's option, e.g. `variants[Version]`).
    fn variant(&self) -> Option<String> {
        if let Some(tier) = self.get("variants[Tier]") {
            return Some(tier.to_owned());
        }
        let mut options: Vec<(&String, &String)> =
            self.0.iter().filter(|(key, value)| key.starts_with("variants[") && !value.trim().is_empty()).collect();
        options.sort();
        options.first().map(|(_, value)| value.trim().to_owned())
    }
}

/// A JSON ping as the keys its form-encoded twin would have.
fn flatten(prefix: Option<&str>, value: &serde_json::Value, fields: &mut HashMap<String, String>) {
    use serde_json::Value;
    let key = |name: &str| prefix.map_or_else(|| name.to_owned(), |prefix| format!("{prefix}[{name}]"));
    match value {
        Value::Object(members) => {
            for (name, member) in members {
                flatten(Some(&key(name)), member, fields);
            }
        }
        Value::Array(items) => {
            let name = format!("{}[]", prefix.unwrap_or_default());
            for item in items {
                flatten(Some(&name), item, fields);
            }
        }
        scalar => {
            let text = match scalar {
                Value::String(text) => text.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            fields.entry(prefix.unwrap_or_default().to_owned()).or_insert(text);
        }
    }
}

/// Why a subscription event happened, in Gumroad's terms, for the audit log.
fn reason_of(kind: EventKind, form: &Form) -> Option<String> {
    match kind {
        EventKind::Cancellation => {
            let by = [
                ("cancelled_by_buyer", "cancelled by the buyer"),
                ("cancelled_by_seller", "cancelled by the seller"),
                ("cancelled_by_admin", "cancelled by Gumroad"),
                ("cancelled_due_to_payment_failures", "cancelled after failed payments"),
            ];
            by.iter().find(|(flag, _)| form.flag(flag)).map(|(_, reason)| (*reason).to_owned())
        }
        EventKind::SubscriptionEnded => form.get("ended_reason").map(str::to_owned),
        EventKind::SubscriptionUpdated => form.get("type").map(str::to_owned),
        _ => None,
    }
}

/// Gumroad's `recurrence` as a period in days, rounded up so a charge on the
/// 31st never leaves a gap before the next one.
fn recurrence_days(recurrence: &str) -> Option<u32> {
    match recurrence {
        "monthly" => Some(31),
        "quarterly" => Some(92),
        "biannually" => Some(183),
        "yearly" => Some(366),
        "every_two_years" => Some(731),
        _ => None,
    }
}

fn kind_of(form: &Form) -> Result<EventKind, StorefrontError> {
    let kind = match form.get("resource_name") {
        // A classic ping has no resource_name; its flags say what it is.
        None | Some("sale") if form.flag("refunded") => EventKind::Refund,
        None | Some("sale") if form.flag("dispute_won") => EventKind::DisputeWon,
        None | Some("sale") if form.flag("disputed") => EventKind::Dispute,
        None | Some("sale") if form.flag("is_recurring_charge") => EventKind::RecurringCharge,
        None | Some("sale") => EventKind::Sale,
        Some("refund") => EventKind::Refund,
        Some("dispute") => EventKind::Dispute,
        Some("dispute_won") => EventKind::DisputeWon,
        Some("cancellation") => EventKind::Cancellation,
        Some("subscription_ended") => EventKind::SubscriptionEnded,
        Some("subscription_restarted") => EventKind::SubscriptionRestarted,
        Some("subscription_updated") => EventKind::SubscriptionUpdated,
        Some(other) => return Err(StorefrontError::Ignored(format!("Gumroad resource `{other}`"))),
    };
    Ok(kind)
}

impl Storefront for GumroadStorefront {
    fn name(&self) -> &str {
        NAME
    }

    fn secret_query_parameters(&self) -> &'static [&'static str] {
        &["secret"]
    }

    fn authenticate(&self, request: &InboundRequest) -> Result<(), StorefrontError> {
        let given = request.query_param("secret").unwrap_or_default();
        // Constant time in the content; only a length mismatch returns early.
        let matches = !self.secret.is_empty() && bool::from(given.as_bytes().ct_eq(self.secret.as_bytes()));
        if !matches {
            return Err(StorefrontError::Unauthenticated("wrong or missing ?secret=".into()));
        }
        // Sale-shaped pings name the seller; subscription-shaped ones
        // (cancellation, subscription_*) carry no seller_id at all and are
        // vouched for by the secret alone. Only a ping naming another seller
        // is refused.
        if let Some(expected) = &self.seller_id {
            let seller = Form::parse(request).ok().and_then(|form| form.get("seller_id").map(str::to_owned));
            if seller.is_some_and(|seller| seller != *expected) {
                return Err(StorefrontError::Unauthenticated("a ping for another seller".into()));
            }
        }
        Ok(())
    }

    fn parse(&self, request: &InboundRequest) -> Result<StorefrontEvent, StorefrontError> {
        let form = Form::parse(request)?;
        let kind = kind_of(&form)?;
        let subscription_only = kind.is_subscription_only();
        let sale_id = form.get("sale_id").map(str::to_owned);
        let subscription_id = form.get("subscription_id").map(str::to_owned);
        if !subscription_only && sale_id.is_none() {
            return Err(StorefrontError::Malformed(format!("a {kind} ping without sale_id")));
        }
        if subscription_only && subscription_id.is_none() {
            return Err(StorefrontError::Malformed(format!("a {kind} ping without subscription_id")));
        }
        if kind == EventKind::RecurringCharge && subscription_id.is_none() {
            return Err(StorefrontError::Malformed("a recurring charge without subscription_id".into()));
        }
        let product_ref = form
            .get("product_id")
            .map(str::to_owned)
            .ok_or_else(|| StorefrontError::Malformed(format!("a {kind} ping without product_id")))?;
        // A plan change names the new plan's tier and recurrence; every other
        // ping the purchase's own variant and the subscription's recurrence.
        let (variant, recurrence) = if kind == EventKind::SubscriptionUpdated {
            (form.get("new_plan[tier][name]").map(str::to_owned), form.get("new_plan[recurrence]"))
        } else {
            (form.variant(), form.get("recurrence"))
        };
        let occurred_at = match kind {
            EventKind::Cancellation => form.time(&["cancelled_at"]),
            EventKind::SubscriptionEnded => form.time(&["ended_at"]),
            EventKind::SubscriptionRestarted => form.time(&["restarted_at"]),
            EventKind::SubscriptionUpdated => form.time(&["effective_as_of"]),
            _ => form.time(&["sale_timestamp"]),
        };
        Ok(StorefrontEvent {
            kind,
            sale_id: if subscription_only { None } else { sale_id },
            subscription_id,
            product_ref,
            variant,
            email: form.get("email").or_else(|| form.get("user_email")).map(str::to_owned),
            name: form.get("full_name").map(str::to_owned),
            test: form.flag("test"),
            billing_period_days: recurrence.and_then(recurrence_days),
            occurred_at: occurred_at.or_else(|| form.time(&["created_at"])),
            reason: reason_of(kind, &form),
            renewing: None,
        })
    }
}

/// `[storefronts.gumroad]`: the post URL's secret, an optional seller id, what
/// refunds do and the product mappings.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GumroadConfig {
    /// The `?secret=` of the post URL configured at Gumroad.
    #[serde(default)]
    pub secret: Option<Secret>,
    #[serde(default)]
    pub secret_file: Option<std::path::PathBuf>,
    /// When set, pings naming another seller are refused.
    #[serde(default)]
    pub seller_id: Option<String>,
    #[serde(default)]
    pub on_refund: RefundPolicy,
    /// Gumroad product id → Tessera product and tier.
    #[serde(default)]
    pub products: std::collections::BTreeMap<String, ProductMapping>,
}

tessera_domain::storefront_settings!(GumroadConfig, NAME, |config, credentials, _clock| {
    std::sync::Arc::new(GumroadStorefront::new(credentials.secret, config.seller_id.clone()))
});
