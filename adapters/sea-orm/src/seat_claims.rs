//! Concurrent seat claims on one license, combined. On Postgres every claim
//! on a license waits for the license row's lock, held until its statement
//! commits, so activations of one license run one after another however many
//! connections there are. Here the claims that arrive while one is running
//! wait in a queue for that license, and the next run takes all of them at
//! once: one statement, one lock, one commit for the lot (see
//! `SeaOrmStore::take_seats_together`). Claims on different licenses never
//! wait for each other.
//!
//! Nothing here decides whether a claim succeeds; the statements do, as for
//! a claim alone.

use tessera_domain::audit::AuditEvent;
use tessera_domain::license::{Activation, ChurnLimit, SeatOutcome};
use tessera_domain::repository::RepositoryError;
use tokio::sync::oneshot;
use uuid::Uuid;

/// At most this many claims go into one statement (Postgres allows 65,535
/// parameters; a claim binds about twenty).
const MOST_CLAIMS_AT_ONCE: usize = 64;

/// What a claim's run answers: the outcome, or `None` when no seat was taken
/// and the caller must look at why (as `take_seat` does for a claim alone).
pub(crate) type ClaimAnswer = Result<Option<SeatOutcome>, RepositoryError>;

/// One caller's claim, and where its answer goes.
pub(crate) struct Claim {
    pub(crate) activation: Activation,
    pub(crate) churn: Option<ChurnLimit>,
    pub(crate) audit: AuditEvent,
    answer: oneshot::Sender<ClaimAnswer>,
}

impl Claim {
    pub(crate) fn new(
        activation: Activation,
        churn: Option<ChurnLimit>,
        audit: AuditEvent,
    ) -> (Self, oneshot::Receiver<ClaimAnswer>) {
        let (answer, answered) = oneshot::channel();
        (Self { activation, churn, audit, answer }, answered)
    }

    pub(crate) fn answer(self, answer: ClaimAnswer) {
        // The caller may have gone (a client hanging up); the claim stands.
        let _ = self.answer.send(answer);
    }
}

/// The licenses with a run of claims in progress, and the claims waiting for
/// it to finish.
pub(crate) type SeatClaims = crate::runs::Runs<Uuid, Claim, MOST_CLAIMS_AT_ONCE>;

/// A run of batches of claims on one license.
pub(crate) type Run = crate::runs::Run<Uuid, Claim, MOST_CLAIMS_AT_ONCE>;

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;
    use uuid::Uuid;

    use super::*;

    fn claim(license_id: Uuid, n: u128) -> (Claim, oneshot::Receiver<ClaimAnswer>) {
        let at = OffsetDateTime::UNIX_EPOCH;
        let activation = Activation {
            id: Uuid::from_u128(n),
            license_id,
            fingerprint: tessera_domain::license::Fingerprint::parse(&format!("machine-{n}")).unwrap(),
            name: None,
            platform: None,
            app_version: None,
            activated_at: at,
            last_seen_at: at,
            deactivated_at: None,
        };
        let audit = AuditEvent {
            id: Uuid::from_u128(n),
            at,
            actor: tessera_domain::audit::Actor::Buyer,
            action: "activation.created".into(),
            entity_type: "license".into(),
            entity_id: "key".into(),
            details: serde_json::json!({}),
        };
        Claim::new(activation, None, audit)
    }

    /// The first claim on a license starts a run; the ones after it queue and
    /// come out together, at most `MOST_CLAIMS_AT_ONCE` at a time, and the
    /// run ends when none is left. Another license is not held up.
    #[test]
    fn claims_queue_behind_the_run_on_their_license() {
        let claims = std::sync::Arc::new(SeatClaims::default());
        let (one, other) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let (mut run, first) = claims.join(one, claim(one, 0).0).expect("the first claim starts the run");
        assert!(claims.join(other, claim(other, 1).0).is_some(), "another license has a run of its own");
        for n in 1..=MOST_CLAIMS_AT_ONCE as u128 + 3 {
            assert!(claims.join(one, claim(one, n).0).is_none(), "queued behind the first");
        }
        first.answer(Ok(None));
        let batch = run.next_batch();
        assert_eq!(batch.len(), MOST_CLAIMS_AT_ONCE);
        assert_eq!(batch[0].activation.id, Uuid::from_u128(1), "in the order they came");
        assert_eq!(run.next_batch().len(), 3);
        assert!(run.next_batch().is_empty());
        drop(run);
        assert!(claims.join(one, claim(one, 99).0).is_some(), "the run ended: the next claim starts one");
    }

    /// A run that stops midway drops the claims waiting on it, whose callers
    /// hear so, and the license is free for the next claim.
    #[test]
    fn an_abandoned_run_frees_the_license_and_its_waiting_callers() {
        let claims = std::sync::Arc::new(SeatClaims::default());
        let license = Uuid::from_u128(1);
        let (run, _first) = claims.join(license, claim(license, 0).0).expect("starts the run");
        let (queued, mut answered) = claim(license, 1);
        assert!(claims.join(license, queued).is_none());
        drop(run);
        assert!(
            matches!(answered.try_recv(), Err(oneshot::error::TryRecvError::Closed)),
            "the waiting caller hears the claim was dropped"
        );
        assert!(claims.join(license, claim(license, 2).0).is_some(), "the license is free again");
    }
}
