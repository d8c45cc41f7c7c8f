//! Reading a provider's event by JSON pointer (`/data/attributes/user_email`):
//! providers nest deeply, send ids as numbers or strings, and leave fields
//! `null`; these read all of that the same way.

use serde_json::Value;
use tessera_domain::storefront::StorefrontError;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// The event as JSON, or `Malformed` naming the provider.
pub fn document(body: &[u8], provider: &str) -> Result<Value, StorefrontError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|error| StorefrontError::Malformed(format!("not a {provider} event: {error}")))?;
    if !value.is_object() {
        return Err(StorefrontError::Malformed(format!("not a {provider} event: the body is not an object")));
    }
    Ok(value)
}

/// A present, non-empty text or number at `pointer`, as text.
pub fn text(value: &Value, pointer: &str) -> Option<String> {
    match value.pointer(pointer)? {
        Value::String(text) if !text.trim().is_empty() => Some(text.trim().to_owned()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// The first of `pointers` that has a text.
pub fn first_text(value: &Value, pointers: &[&str]) -> Option<String> {
    pointers.iter().find_map(|pointer| text(value, pointer))
}

/// `text`, or `Malformed` saying what is missing.
pub fn required(value: &Value, pointer: &str, what: &str) -> Result<String, StorefrontError> {
    text(value, pointer).ok_or_else(|| StorefrontError::Malformed(format!("{what} has no {pointer}")))
}

pub fn flag(value: &Value, pointer: &str) -> bool {
    value.pointer(pointer).and_then(Value::as_bool).unwrap_or(false)
}

pub fn integer(value: &Value, pointer: &str) -> Option<i64> {
    value.pointer(pointer).and_then(Value::as_i64)
}

/// An RFC 3339 text or a unix timestamp (Stripe) at `pointer`.
pub fn time(value: &Value, pointer: &str) -> Option<OffsetDateTime> {
    match value.pointer(pointer)? {
        Value::String(text) => OffsetDateTime::parse(text, &Rfc3339).ok(),
        Value::Number(number) => OffsetDateTime::from_unix_timestamp(number.as_i64()?).ok(),
        _ => None,
    }
}

/// A billing interval (`day`, `week`, `month`, `year`; any case, `monthly`
/// too) times a count, in days rounded up, so a charge on the 31st never
/// leaves a gap before the next one.
pub fn period_days(interval: &str, count: i64) -> Option<u32> {
    let unit = match interval.to_ascii_lowercase().trim_end_matches("ly") {
        "day" | "dai" => 1,
        "week" => 7,
        "month" => 31,
        "year" => 366,
        _ => return None,
    };
    u32::try_from(count.clamp(1, 100)).ok().map(|count| count * unit)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn texts_numbers_nulls_and_blanks() {
        let event = json!({"data": {"id": 42, "name": " Ada ", "gone": null, "blank": " ", "at": 1700000000}});
        assert_eq!(text(&event, "/data/id").as_deref(), Some("42"));
        assert_eq!(text(&event, "/data/name").as_deref(), Some("Ada"));
        assert_eq!(text(&event, "/data/gone"), None);
        assert_eq!(text(&event, "/data/blank"), None);
        assert_eq!(first_text(&event, &["/data/gone", "/data/id"]).as_deref(), Some("42"));
        assert_eq!(time(&event, "/data/at").map(OffsetDateTime::unix_timestamp), Some(1_700_000_000));
        assert!(required(&event, "/data/gone", "the order").is_err());
        assert!(document(b"[1]", "Polar").is_err());
    }

    #[test]
    fn billing_periods_in_days() {
        assert_eq!(period_days("month", 1), Some(31));
        assert_eq!(period_days("Year", 1), Some(366));
        assert_eq!(period_days("week", 2), Some(14));
        assert_eq!(period_days("monthly", 3), Some(93));
        assert_eq!(period_days("fortnight", 1), None);
    }
}
