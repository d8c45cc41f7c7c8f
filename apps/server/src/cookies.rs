//! The double-submit and session tokens the HTML pages (portal, console) set
//! as cookies: 256 random bits as base64url, and reading one back.

use poem::http::header;
use poem::Request;
use tessera_domain::random::RandomSource;
use tessera_ring::{b64url, RingRandomSource};

/// A fresh token: 32 random bytes, base64url (43 characters).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    RingRandomSource::new().fill(&mut bytes);
    b64url(&bytes)
}

/// The browser's cookie `name`, if it sent a well-formed token (43 characters).
pub fn token_cookie(request: &Request, name: &str) -> Option<String> {
    request
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, value)| *key == name && value.len() == 43)
        .map(|(_, value)| value.to_owned())
}

/// The token a form page carries: the browser's cookie `name`, or a new one
/// (`true`: set it).
pub fn token_or_new(request: &Request, name: &str) -> (String, bool) {
    match token_cookie(request, name) {
        Some(token) => (token, false),
        None => (random_token(), true),
    }
}
