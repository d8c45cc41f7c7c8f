//! The outbox worker: a task in every server process that sends due
//! deliveries. Several processes may run it against one database; claims
//! (conditional updates) keep each attempt to one of them.

use std::time::Duration;

use tessera_domain::mail::OutboxService;
use tokio::sync::watch;

use crate::http::errors::chain;

/// How many deliveries one pass claims, and sends side by side: at most this
/// many requests to the mail provider at once.
const BATCH: u32 = 32;

/// Runs until `stop` turns true. Between passes that found nothing to do it
/// waits `poll`; a full batch is followed at once by the next.
pub async fn run(outbox: OutboxService, poll: Duration, mut stop: watch::Receiver<bool>) {
    let mut misconfigured_logged = false;
    loop {
        let busy = match outbox.deliver_due(BATCH).await {
            Ok(run) => {
                for id in &run.interrupted {
                    tracing::warn!(delivery = %id, "a delivery was interrupted mid-send; marked failed, not resent");
                }
                match &run.misconfigured {
                    // Loud once per episode, not once per second.
                    Some(error) if !misconfigured_logged => {
                        tracing::error!(error = %error, "the mail provider refuses our credentials: emails wait until mail is configured correctly");
                        misconfigured_logged = true;
                    }
                    None if run.sent > 0 => misconfigured_logged = false,
                    _ => {}
                }
                if run.sent + run.failed + run.deferred > 0 {
                    tracing::info!(sent = run.sent, failed = run.failed, retry_later = run.deferred, "outbox pass");
                }
                run.sent + run.failed + run.deferred >= BATCH
            }
            Err(error) => {
                tracing::warn!(error = %chain(&error), "outbox pass failed; trying again shortly");
                false
            }
        };
        if busy {
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = stop.wait_for(|stop| *stop) => return,
        }
    }
}
