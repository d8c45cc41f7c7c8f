//! A [`Mailer`] that keeps what it is asked to send and answers from a script,
//! so tests can play a provider that fails, then recovers.

use std::collections::VecDeque;
use std::sync::Mutex;

use async_trait::async_trait;
use tessera_domain::mail::{Email, Mailer, SendError, Sent};

#[derive(Default)]
pub struct InMemoryMailer {
    sent: Mutex<Vec<Email>>,
    script: Mutex<VecDeque<SendError>>,
}

impl InMemoryMailer {
    pub fn new() -> Self {
        Self::default()
    }

    /// The next sends fail with these errors, in order; then sends succeed again.
    pub fn fail_next(&self, errors: impl IntoIterator<Item = SendError>) {
        self.script.lock().expect("mailer lock").extend(errors);
    }

    /// Every email accepted so far.
    pub fn sent(&self) -> Vec<Email> {
        self.sent.lock().expect("mailer lock").clone()
    }
}

#[async_trait]
impl Mailer for InMemoryMailer {
    async fn send(&self, email: &Email) -> Result<Sent, SendError> {
        if let Some(error) = self.script.lock().expect("mailer lock").pop_front() {
            return Err(error);
        }
        let mut sent = self.sent.lock().expect("mailer lock");
        sent.push(email.clone());
        Ok(Sent { provider_message_id: Some(format!("memory-{}", sent.len())) })
    }
}
