//! The mail port family: a [`Mailer`] sends one email through a provider and
//! says how a failure should be treated; the outbox ([`DeliveryRepository`],
//! [`OutboxService`]) decides which emails to send, keeps them durably and
//! retries them, so that nothing queued is lost and nothing is sent twice.

mod compose;
mod outbox;
mod service;

pub use compose::{compose, compose_portal, escape_html, license_file, MailSettings, Names, PortalEntry};
pub use outbox::{
    Delivery, DeliveryFilter, DeliveryKind, DeliveryOutcome, DeliveryRepository, DeliveryStatus, Enqueued,
};
pub use service::{DeliveryRun, OutboxDeps, OutboxService, QueueError, RetryDeliveryError, RetryPolicy};

use async_trait::async_trait;
use thiserror::Error;

/// One file attached to an email (e.g. the buyer's `.lic`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub name: String,
    pub content_type: String,
    pub content: Vec<u8>,
}

/// A fully rendered email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    /// `Name <address>` or a bare address.
    pub from: String,
    pub to: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    pub attachments: Vec<Attachment>,
    /// Ours, for logs and for matching the provider's record (the delivery id).
    pub reference: String,
}

/// The provider accepted the email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The provider's id of the message, when it gives one.
    pub provider_message_id: Option<String>,
}

/// Why an email was not sent, sorted by what the outbox should do next.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SendError {
    /// The provider refused this email for good (inactive recipient, invalid
    /// request): do not retry.
    #[error("rejected: {0}")]
    Rejected(String),
    /// The provider refused our credentials or settings: retry later, and tell
    /// the operator loudly.
    #[error("mail provider misconfigured: {0}")]
    Misconfigured(String),
    /// Try again later (rate limit, provider error, timeout, connection refused).
    #[error("temporary failure: {0}")]
    Transient(String),
}

/// Sends email through one provider.
#[async_trait]
pub trait Mailer: Send + Sync + 'static {
    /// Sends `email` once. MUST return `SendError::Rejected` only when a retry
    /// cannot succeed, `SendError::Misconfigured` when the provider refuses the
    /// account or server token, and `SendError::Transient` for everything that
    /// may pass on a later attempt, including an unreachable provider.
    async fn send(&self, email: &Email) -> Result<Sent, SendError>;
}
