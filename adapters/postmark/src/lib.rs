//! [`PostmarkMailer`]: the [`Mailer`] port on Postmark's `POST /email`.
//!
//! Postmark's answers are sorted by what a retry could change:
//! - `200` with `ErrorCode` 0: sent (its `MessageID` is kept);
//! - `401`, or `ErrorCode` 10 (bad server token): misconfigured — retried later, logged loudly;
//! - `422` (`ErrorCode` 406 inactive recipient, 300 invalid request, …): rejected, not retried;
//! - `429`, `5xx`, timeouts, refused connections: transient, retried.

use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use serde::{Deserialize, Serialize};
use tessera_domain::mail::{Email, Mailer, SendError, Sent};

/// Postmark's API.
pub const DEFAULT_BASE_URL: &str = "https://api.postmarkapp.com";

pub struct PostmarkMailer {
    http: reqwest::Client,
    base_url: String,
    server_token: String,
    message_stream: String,
}

impl PostmarkMailer {
    /// `base_url` is overridable so tests can point at a local fake.
    pub fn new(base_url: &str, server_token: impl Into<String>, message_stream: impl Into<String>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .expect("an HTTP client with rustls");
        Self {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            server_token: server_token.into(),
            message_stream: message_stream.into(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PostmarkAttachment<'a> {
    name: &'a str,
    content: String,
    content_type: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PostmarkEmail<'a> {
    from: &'a str,
    to: &'a str,
    subject: &'a str,
    text_body: &'a str,
    html_body: &'a str,
    message_stream: &'a str,
    /// Postmark echoes it in its activity log: our delivery id.
    metadata: serde_json::Value,
    attachments: Vec<PostmarkAttachment<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct PostmarkAnswer {
    error_code: i64,
    message: String,
    #[serde(rename = "MessageID")]
    message_id: Option<String>,
}

/// Inactive recipient (hard bounce, spam complaint, manual suppression).
const INACTIVE_RECIPIENT: i64 = 406;
/// Bad or missing server token.
const INVALID_TOKEN: i64 = 10;

/// Sorts Postmark's answer (status, parsed body) into the port's outcome.
fn classify(status: u16, answer: PostmarkAnswer) -> Result<Sent, SendError> {
    let reason = || format!("Postmark {status}, ErrorCode {}: {}", answer.error_code, answer.message);
    match status {
        200 if answer.error_code == 0 => Ok(Sent { provider_message_id: answer.message_id.clone() }),
        401 => Err(SendError::Misconfigured(reason())),
        _ if answer.error_code == INVALID_TOKEN => Err(SendError::Misconfigured(reason())),
        422 if answer.error_code == INACTIVE_RECIPIENT => Err(SendError::Rejected(reason())),
        429 | 500..=599 => Err(SendError::Transient(reason())),
        // Any other answer to a well-formed request is about this email: retrying sends it again unchanged.
        _ => Err(SendError::Rejected(reason())),
    }
}

#[async_trait]
impl Mailer for PostmarkMailer {
    async fn send(&self, email: &Email) -> Result<Sent, SendError> {
        let body = PostmarkEmail {
            from: &email.from,
            to: &email.to,
            subject: &email.subject,
            text_body: &email.text_body,
            html_body: &email.html_body,
            message_stream: &self.message_stream,
            metadata: serde_json::json!({ "tessera_reference": email.reference }),
            attachments: email
                .attachments
                .iter()
                .map(|attachment| PostmarkAttachment {
                    name: &attachment.name,
                    content: base64::engine::general_purpose::STANDARD.encode(&attachment.content),
                    content_type: &attachment.content_type,
                })
                .collect(),
        };
        let response = self
            .http
            .post(format!("{}/email", self.base_url))
            .header("Accept", "application/json")
            .header("X-Postmark-Server-Token", &self.server_token)
            .json(&body)
            .send()
            .await
            .map_err(|error| SendError::Transient(format!("Postmark unreachable: {error}")))?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|error| SendError::Transient(format!("Postmark answer: {error}")))?;
        let answer = serde_json::from_str(&text).unwrap_or_else(|_| PostmarkAnswer {
            error_code: -1,
            message: text.chars().take(200).collect(),
            message_id: None,
        });
        classify(status, answer)
    }
}
