//! HMAC-SHA256 webhook signatures: every provider signs some arrangement of
//! a timestamp, an id and the raw body with a shared secret, and sends one
//! or more tags (several during a secret's rotation) in a header.

use ring::hmac;
use tessera_domain::storefront::{InboundRequest, StorefrontError};

/// A webhook signing key. Verification compares in constant time (ring).
pub struct SigningKey(hmac::Key);

impl SigningKey {
    pub fn new(secret: &[u8]) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, secret))
    }

    /// The tag of `message`, as a provider computes it.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        hmac::sign(&self.0, message).as_ref().to_vec()
    }

    pub fn sign_hex(&self, message: &[u8]) -> String {
        hex(&self.sign(message))
    }

    pub fn verifies(&self, message: &[u8], tag: &[u8]) -> bool {
        hmac::verify(&self.0, message, tag).is_ok()
    }

    /// Whether any of the hex tags (unparsable ones never match) is
    /// `message`'s.
    pub fn verifies_any_hex<'a>(&self, message: &[u8], tags: impl IntoIterator<Item = &'a str>) -> bool {
        tags.into_iter().filter_map(unhex).any(|tag| self.verifies(message, &tag))
    }
}

/// A signature header of `name=value` pairs carrying a unix timestamp and one
/// or more hex tags of `<timestamp><joiner><body>`: Stripe's
/// `Stripe-Signature: t=…,v1=…`, Paddle's `Paddle-Signature: ts=…;h1=…`, and
/// Tessera's own `Tessera-Signature: t=…,v1=…`. Any one tag matching is
/// enough (one per valid secret during a rotation).
pub struct TimestampedHeader {
    /// The header's name, in lower case (`stripe-signature`).
    pub header: &'static str,
    /// Between pairs: `,` or `;`.
    pub pairs: char,
    /// The timestamp's and the tags' names: `t`/`v1`, `ts`/`h1`.
    pub timestamp: &'static str,
    pub tag: &'static str,
    /// Between the timestamp and the body in what is signed: `.` or `:`.
    pub joiner: u8,
}

impl TimestampedHeader {
    /// The header value the sender computes for `body` at unix time `at`.
    pub fn sign(&self, key: &SigningKey, at: i64, body: &[u8]) -> String {
        let at = at.to_string();
        let tag = key.sign_hex(&signed_payload(&[at.as_bytes()], self.joiner, body));
        format!("{}={at}{}{}={tag}", self.timestamp, self.pairs, self.tag)
    }

    /// `Ok` when `request` carries a timestamp within `tolerance_seconds` of
    /// `now` and a tag of it with `key`; else `Unauthenticated`, saying why.
    pub fn verify(
        &self,
        key: &SigningKey,
        request: &InboundRequest,
        now: i64,
        tolerance_seconds: i64,
    ) -> Result<(), StorefrontError> {
        let refuse = |why: String| Err(StorefrontError::Unauthenticated(why));
        let Some(header) = request.header(self.header) else { return refuse(format!("no {} header", self.header)) };
        let pairs = header_pairs(header, self.pairs);
        let Some((_, at)) = pairs.iter().find(|(name, _)| *name == self.timestamp) else {
            return refuse(format!("{} has no {}=", self.header, self.timestamp));
        };
        if !within_window(at, now, tolerance_seconds) {
            return refuse(format!("{}= is not a unix time within {tolerance_seconds} s of now", self.timestamp));
        }
        let tags = pairs.iter().filter(|(name, _)| *name == self.tag).map(|(_, value)| *value);
        if key.verifies_any_hex(&signed_payload(&[at.as_bytes()], self.joiner, &request.body), tags) {
            Ok(())
        } else {
            refuse(format!("no {}= signature matches", self.tag))
        }
    }
}

/// `parts` joined as a provider's signed payload: `<t>.<body>`, `<ts>:<body>`.
pub fn signed_payload(parts: &[&[u8]], separator: u8, body: &[u8]) -> Vec<u8> {
    let mut payload = Vec::with_capacity(body.len() + 64);
    for part in parts {
        payload.extend_from_slice(part);
        payload.push(separator);
    }
    payload.extend_from_slice(body);
    payload
}

/// A signature header's `name=value` pairs (`t=1,v1=ab,v1=cd` split on `,`;
/// Paddle's `ts=1;h1=ab` on `;`), trimmed, in order; repeated names kept.
pub fn header_pairs(header: &str, separator: char) -> Vec<(&str, &str)> {
    header
        .split(separator)
        .filter_map(|pair| pair.split_once('='))
        .map(|(name, value)| (name.trim(), value.trim()))
        .collect()
}

/// Whether a signature made at unix time `timestamp` (the header's text) is
/// within `tolerance_seconds` of `now`, either way. Saturating, so a value
/// near `i64::MIN` or `MAX` cannot wrap into the window.
pub fn within_window(timestamp: &str, now: i64, tolerance_seconds: i64) -> bool {
    timestamp.parse::<i64>().is_ok_and(|at| now.saturating_sub(at).saturating_abs() <= tolerance_seconds)
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

pub fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len()).step_by(2).map(|at| u8::from_str_radix(&text[at..at + 2], 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_verifies_only_its_own_message_and_key() {
        let key = SigningKey::new(b"0123456789abcdef");
        let tag = key.sign_hex(b"1.body");
        assert!(key.verifies_any_hex(b"1.body", ["zz", "00", tag.as_str()]));
        assert!(!key.verifies_any_hex(b"1.bodx", [tag.as_str()]));
        assert!(!SigningKey::new(b"another key 0123").verifies_any_hex(b"1.body", [tag.as_str()]));
        assert!(!key.verifies_any_hex(b"1.body", ["é1"]), "non-ASCII hex is refused, not a panic");
    }

    #[test]
    fn the_window_holds_both_ways_and_does_not_wrap() {
        assert!(within_window("1000", 1300, 300));
        assert!(within_window("1300", 1000, 300));
        assert!(!within_window("999", 1300, 300));
        assert!(!within_window("-9223372036854775808", 1300, 300));
        assert!(!within_window("9223372036854775807", 1300, 300));
        assert!(!within_window("soon", 1300, 300));
    }

    #[test]
    fn a_timestamped_header_verifies_any_tag_within_the_window() {
        const PADDLE: TimestampedHeader =
            TimestampedHeader { header: "paddle-signature", pairs: ';', timestamp: "ts", tag: "h1", joiner: b':' };
        let key = SigningKey::new(b"0123456789abcdef");
        let signed = PADDLE.sign(&key, 1000, b"{}");
        assert_eq!(signed, format!("ts=1000;h1={}", key.sign_hex(b"1000:{}")));
        let request = |header: String, body: &[u8]| InboundRequest {
            query: vec![],
            headers: vec![("paddle-signature".into(), header)],
            body: body.to_vec(),
        };
        let refused =
            |header: String, body: &[u8], now: i64| PADDLE.verify(&key, &request(header, body), now, 5).is_err();
        assert!(!refused(signed.clone(), b"{}", 1005));
        assert!(!refused(format!("{signed};h1={}", "00".repeat(32)), b"{}", 1000), "any one tag");
        assert!(refused(signed.clone(), b"{} ", 1000), "another body");
        assert!(refused(signed.clone(), b"{}", 1006), "outside the window");
        assert!(refused(signed.replace("ts=1000;", ""), b"{}", 1000), "no timestamp");
        assert!(PADDLE.verify(&key, &InboundRequest::default(), 1000, 5).is_err(), "no header");
    }

    #[test]
    fn header_pairs_keep_repeated_names() {
        let pairs = header_pairs("t=1, v1=ab,v1=cd,v0=ef", ',');
        assert_eq!(pairs, [("t", "1"), ("v1", "ab"), ("v1", "cd"), ("v0", "ef")]);
        assert_eq!(header_pairs("ts=1;h1=ab", ';'), [("ts", "1"), ("h1", "ab")]);
        assert_eq!(signed_payload(&[b"1"], b':', b"{}"), b"1:{}");
    }
}
