//! A provider's REST API, asked for what a webhook does not carry. Every
//! failure — unreachable, a timeout, a refused key, a 5xx, an answer that is
//! not JSON, and a `404` too (a sandbox key asking about a live customer) — is
//! `StorefrontError::Unavailable`: the event is kept failed and replayable
//! after the operator fixes the cause, never lost.

use std::time::Duration;

use serde_json::Value;
use tessera_domain::storefront::StorefrontError;

/// How long one lookup may take; the webhook has already been stored and
/// answered when it runs, so this bounds only the processing.
const TIMEOUT: Duration = Duration::from_secs(10);

pub struct ProviderApi {
    provider: &'static str,
    base_url: String,
    api_key: String,
    http: reqwest::Client,
}

impl ProviderApi {
    /// `base_url` without a trailing slash (`https://api.paddle.com`); the
    /// key is sent as `Authorization: Bearer`.
    pub fn new(provider: &'static str, base_url: &str, api_key: &str) -> Self {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .user_agent(concat!("tessera/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("a TLS client builds with rustls");
        Self { provider, base_url: base_url.trim_end_matches('/').to_owned(), api_key: api_key.to_owned(), http }
    }

    /// `GET <base_url><path>` as JSON. `path` segments taken from an event
    /// must be checked by the caller with [`is_plain_id`].
    pub async fn get(&self, path: &str) -> Result<Value, StorefrontError> {
        self.get_with(path, &[]).await
    }

    /// [`Self::get`] with extra headers (e.g. the API version a call needs).
    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Result<Value, StorefrontError> {
        let provider = self.provider;
        let unavailable = |why: String| StorefrontError::Unavailable(format!("{provider} GET {path}: {why}"));
        let mut request = self.http.get(format!("{}{path}", self.base_url)).bearer_auth(&self.api_key);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.map_err(|error| unavailable(without_url(&error)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(unavailable(format!("answered {status}")));
        }
        response.json().await.map_err(|error| unavailable(format!("the answer is not JSON ({})", without_url(&error))))
    }
}

/// Whether an id from an event can go into a URL path as it is: providers'
/// ids are letters, digits, `_` and `-` (`ctm_01h…`, `cs_test_a1…`).
pub fn is_plain_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 200
        && id.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-')
}

/// reqwest's error without the URL it prints (the path is said already).
fn without_url(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else if error.is_decode() {
        "unreadable answer"
    } else {
        "request failed"
    };
    kind.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_ids_go_into_paths() {
        assert!(is_plain_id("ctm_01hv8wt8nffez4p2t6tpj2p0b8"));
        assert!(is_plain_id("cs_test_a1B2"));
        for id in ["", "../admin", "a/b", "a?b", "a b", "é"] {
            assert!(!is_plain_id(id), "{id}");
        }
    }

    #[tokio::test]
    async fn an_unreachable_api_is_unavailable_not_an_answer() {
        let api = ProviderApi::new("Paddle", "http://127.0.0.1:9", "key");
        assert!(matches!(api.get("/customers/ctm_1").await, Err(StorefrontError::Unavailable(_))));
    }
}
