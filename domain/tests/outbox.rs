//! The outbox on in-memory fakes: what is retried, what fails for good, and
//! that nothing is sent twice.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::executor::block_on;
use futures::future::join_all;
use tessera_domain::audit::{Actor, AuditFilter, AuditLog};
use tessera_domain::catalog::{Catalog, Product, Tier};
use tessera_domain::issuance::{IssuanceService, MintLicense};
use tessera_domain::license::{CustomerName, EmailAddress, License, LicenseKind};
use tessera_domain::mail::{
    Delivery, DeliveryRepository, DeliveryStatus, Email, MailSettings, Mailer, OutboxDeps, OutboxService, QueueError,
    RetryDeliveryError, RetryPolicy, SendError, Sent,
};
use tessera_domain::page::PageRequest;
use tessera_memory::{InMemoryMailer, InMemorySigner, InMemoryStore, ManualClock, SeededRandomSource};
use time::macros::datetime;
use time::Duration;

struct World {
    store: Arc<InMemoryStore>,
    issuance: IssuanceService,
    outbox: OutboxService,
    mailer: Arc<InMemoryMailer>,
    clock: Arc<ManualClock>,
}

fn world() -> World {
    world_sending_through(|mailer| mailer)
}

/// A world whose outbox sends through `outbox_mailer` (given the world's fake mailer).
fn world_sending_through(outbox_mailer: impl FnOnce(Arc<InMemoryMailer>) -> Arc<dyn Mailer>) -> World {
    let store = Arc::new(InMemoryStore::new());
    let tier = Tier {
        name: Some("Pro Edition".into()),
        slug: "pro".into(),
        features: vec!["export".into()],
        seats: 2,
        duration_days: None,
        app_versions: None,
        downloads: Default::default(),
    };
    let catalog = Arc::new(
        Catalog::new(vec![Product {
            slug: "pencil".into(),
            name: "Pencil <Pro> & Co".into(),
            key_prefix: "PEN".into(),
            renew_url: None,
            tiers: BTreeMap::from([("pro".to_owned(), tier)]),
        }])
        .unwrap(),
    );
    let clock = Arc::new(ManualClock::at(datetime!(2026-11-23 12:00 UTC)));
    let random = Arc::new(SeededRandomSource::new(5));
    let issuance = IssuanceService::new(
        store.clone(),
        Arc::new(InMemorySigner),
        clock.clone(),
        random.clone(),
        catalog.clone(),
        "t".to_owned(),
    );
    let mailer = Arc::new(InMemoryMailer::new());
    let policy =
        RetryPolicy { initial_delay: Duration::seconds(30), max_delay: Duration::minutes(10), max_attempts: 4 };
    let outbox = OutboxService::new(OutboxDeps {
        deliveries: store.clone(),
        licenses: store.clone(),
        mailer: outbox_mailer(mailer.clone()),
        clock: clock.clone(),
        random,
        catalog,
        settings: MailSettings {
            from: "Pencil <licenses@pencil.example>".into(),
            base_url: "https://licenses.pencil.example/".into(),
        },
        retry: policy,
        links: InMemorySigner::portal_links(clock.clone(), "tessera-test"),
    });
    World { store, issuance, outbox, mailer, clock }
}

async fn mint(world: &World) -> License {
    mint_with(world, |request| request).await
}

/// Jane's pro license of the pencil app, nothing else set.
fn pencil_request() -> MintLicense {
    MintLicense::new(
        "pencil",
        "pro",
        CustomerName::parse("Jane <b>Doe</b>").unwrap(),
        EmailAddress::parse("jane@example.com").unwrap(),
    )
}

async fn mint_with(world: &World, change: impl FnOnce(MintLicense) -> MintLicense) -> License {
    world.issuance.mint(change(pencil_request()), Actor::Admin).await.unwrap().license
}

async fn queued(world: &World) -> Delivery {
    let license = mint(world).await;
    world.outbox.queue_issued(&license, Actor::Admin).await.unwrap().delivery().clone()
}

async fn reload(world: &World, delivery: &Delivery) -> Delivery {
    world.store.find_delivery(delivery.id).await.unwrap().unwrap()
}

#[test]
fn the_email_carries_the_license_inline_and_attached_with_instructions() {
    block_on(async {
        let world = world();
        let license = mint(&world).await;
        let again = world.outbox.queue_issued(&license, Actor::Admin).await.unwrap();
        world.outbox.queue_issued(&license, Actor::Admin).await.unwrap();
        assert_eq!(world.outbox.deliver_due(10).await.unwrap().sent, 1, "queued twice, one delivery");
        let email = world.mailer.sent().pop().unwrap();
        assert_eq!((email.from.as_str(), email.to.as_str()), ("Pencil <licenses@pencil.example>", "jane@example.com"));
        assert_eq!(email.subject, "Your Pencil <Pro> & Co license");
        assert_eq!(email.reference, again.delivery().id.to_string());
        // This fake signer's tokens hold raw JSON; HTML shows them escaped.
        let html_token =
            license.token.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
        for (body, token) in [(&email.text_body, &license.token), (&email.html_body, &html_token)] {
            assert!(body.contains(license.key.as_str()), "the key");
            assert!(body.contains(token.as_str()), "the token inline");
            assert!(body.contains("https://licenses.pencil.example/portal"), "the portal link");
            assert!(body.contains("Activate license"), "activation instructions");
        }
        assert!(email.html_body.contains("Pencil &lt;Pro&gt; &amp; Co") && !email.html_body.contains("<b>Doe"));
        assert_eq!(email.attachments.len(), 1);
        assert_eq!(email.attachments[0].name, format!("{}.lic", license.key));
        assert_eq!(email.attachments[0].content, format!("{}\n", license.token).into_bytes());
    })
}

#[test]
fn a_provider_error_is_retried_with_backoff_and_sent_once() {
    block_on(async {
        let world = world();
        let delivery = queued(&world).await;
        world.mailer.fail_next([SendError::Transient("HTTP 500".into()), SendError::Transient("HTTP 429".into())]);

        let first = world.outbox.deliver_due(10).await.unwrap();
        assert_eq!((first.sent, first.deferred), (0, 1));
        let waiting = reload(&world, &delivery).await;
        assert_eq!((waiting.status, waiting.attempts), (DeliveryStatus::Pending, 1));
        assert_eq!(waiting.next_attempt_at, datetime!(2026-11-23 12:00:30 UTC), "30 s after the first failure");
        assert_eq!(waiting.last_error.as_deref(), Some("HTTP 500"));
        assert_eq!(world.outbox.deliver_due(10).await.unwrap().deferred, 0, "not due yet");

        world.clock.advance(Duration::seconds(30));
        world.outbox.deliver_due(10).await.unwrap();
        let backing_off = reload(&world, &delivery).await;
        assert_eq!(backing_off.next_attempt_at, datetime!(2026-11-23 12:01:30 UTC), "then 60 s");

        world.clock.advance(Duration::seconds(60));
        assert_eq!(world.outbox.deliver_due(10).await.unwrap().sent, 1);
        let sent = reload(&world, &delivery).await;
        assert_eq!((sent.status, sent.attempts), (DeliveryStatus::Sent, 3));
        assert_eq!(sent.provider_message_id.as_deref(), Some("memory-1"));
        assert_eq!(world.mailer.sent().len(), 1);
        world.clock.advance(Duration::days(1));
        assert_eq!(world.outbox.deliver_due(10).await.unwrap().sent, 0);
        assert_eq!(world.mailer.sent().len(), 1, "sent exactly once");

        let filter = AuditFilter { action: Some("delivery.sent".into()), ..Default::default() };
        let trail = world.store.list_audit(&filter, &PageRequest::first(10)).await.unwrap().items;
        assert_eq!(trail.len(), 1);
        assert_eq!(trail[0].actor, Actor::System);
    })
}

#[test]
fn a_rejected_email_fails_after_one_attempt_and_can_be_retried() {
    block_on(async {
        let world = world();
        let delivery = queued(&world).await;
        world.mailer.fail_next([SendError::Rejected("406 inactive recipient".into())]);
        let run = world.outbox.deliver_due(10).await.unwrap();
        assert_eq!((run.failed, run.deferred), (1, 0));
        let failed = reload(&world, &delivery).await;
        assert_eq!((failed.status, failed.attempts), (DeliveryStatus::Failed, 1));
        assert_eq!(failed.last_error.as_deref(), Some("406 inactive recipient"));
        world.clock.advance(Duration::days(1));
        assert_eq!(world.outbox.deliver_due(10).await.unwrap(), Default::default(), "never retried by itself");

        let retried = world.outbox.retry(delivery.id, Actor::Admin).await.unwrap();
        assert_eq!(retried.status, DeliveryStatus::Pending);
        assert_eq!(world.outbox.deliver_due(10).await.unwrap().sent, 1);
        let error = world.outbox.retry(delivery.id, Actor::Admin).await.unwrap_err();
        assert!(matches!(error, RetryDeliveryError::NotRetryable { status: DeliveryStatus::Sent, .. }), "{error:?}");
        let missing = world.outbox.retry(uuid::Uuid::nil(), Actor::Admin).await.unwrap_err();
        assert!(matches!(missing, RetryDeliveryError::NotFound(_)));
    })
}

#[test]
fn transient_failures_give_up_after_the_last_attempt_but_misconfiguration_waits() {
    block_on(async {
        let world = world();
        let delivery = queued(&world).await;
        world.mailer.fail_next((0..4).map(|n| SendError::Transient(format!("timeout {n}"))));
        for _ in 0..4 {
            world.outbox.deliver_due(10).await.unwrap();
            world.clock.advance(Duration::minutes(10));
        }
        let failed = reload(&world, &delivery).await;
        assert_eq!((failed.status, failed.attempts), (DeliveryStatus::Failed, 4));
        assert_eq!(failed.last_error.as_deref(), Some("gave up after 4 attempts: timeout 3"));

        let waiting = queued(&world).await;
        world.mailer.fail_next((0..6).map(|_| SendError::Misconfigured("401 bad server token".into())));
        for _ in 0..6 {
            let run = world.outbox.deliver_due(10).await.unwrap();
            assert!(run.misconfigured.as_deref().is_some_and(|error| error.contains("401")), "{run:?}");
            world.clock.advance(Duration::minutes(10));
        }
        let still = reload(&world, &waiting).await;
        assert_eq!((still.status, still.attempts), (DeliveryStatus::Pending, 6), "kept until mail is fixed");
        assert_eq!(world.outbox.deliver_due(10).await.unwrap().sent, 1);
    })
}

#[test]
fn concurrent_workers_send_each_delivery_once() {
    block_on(async {
        let world = world();
        for _ in 0..5 {
            queued(&world).await;
        }
        let runs = join_all((0..10).map(|_| world.outbox.deliver_due(2))).await;
        let sent: u32 = runs.into_iter().map(|run| run.unwrap().sent).sum();
        assert_eq!(sent, 5);
        assert_eq!(world.mailer.sent().len(), 5);
    })
}

#[test]
fn a_send_interrupted_by_a_crash_is_failed_not_sent_again() {
    block_on(async {
        let world = world();
        let delivery = queued(&world).await;
        // A worker claimed it and died before recording the outcome.
        let now = datetime!(2026-11-23 12:00 UTC);
        let claimed = world.store.claim_due(now, now + Duration::minutes(2), 10).await.unwrap();
        assert_eq!(claimed.len(), 1);
        assert_eq!(world.outbox.deliver_due(10).await.unwrap().interrupted, Vec::<uuid::Uuid>::new(), "claim live");
        world.clock.advance(Duration::minutes(3));
        let run = world.outbox.deliver_due(10).await.unwrap();
        assert_eq!((run.interrupted, run.sent), (vec![delivery.id], 0));
        let failed = reload(&world, &delivery).await;
        assert_eq!(failed.status, DeliveryStatus::Failed);
        assert!(failed.last_error.unwrap().contains("interrupted"));
        assert!(world.mailer.sent().is_empty());
    })
}

#[test]
fn redelivery_sends_the_current_token_and_refuses_revoked_licenses() {
    block_on(async {
        let world = world();
        let license = mint(&world).await;
        let redelivery = world.outbox.redeliver(&license.key, Actor::Admin).await.unwrap();
        assert_eq!(redelivery.to.as_str(), "jane@example.com");
        let renewed = world
            .issuance
            .renew(
                &license.key,
                tessera_domain::issuance::RenewLicense { duration_days: Some(30), expires_at: None },
                Actor::Admin,
            )
            .await;
        assert!(renewed.is_err(), "a perpetual license is not renewed; the token stays");
        world.outbox.deliver_due(10).await.unwrap();
        let email = world.mailer.sent().pop().unwrap();
        assert!(email.subject.ends_with("(sent again)"));

        // Queued, then revoked before the worker ran: not sent.
        world.outbox.redeliver(&license.key, Actor::Admin).await.unwrap();
        world.issuance.revoke(&license.key, "chargeback", Actor::Admin).await.unwrap();
        let run = world.outbox.deliver_due(10).await.unwrap();
        assert_eq!((run.sent, run.failed), (0, 1));
        let error = world.outbox.redeliver(&license.key, Actor::Admin).await.unwrap_err();
        assert!(matches!(error, QueueError::Revoked(_)), "{error:?}");
        let unknown = tessera_domain::license::LicenseKey::parse("PEN-PRO-NOPE1-NOPE2").unwrap();
        assert!(matches!(world.outbox.redeliver(&unknown, Actor::Admin).await, Err(QueueError::NotFound(_))));
    })
}

/// The email tells the buyer what they have: thanks only for a purchase, the
/// tier's display name, and whether the license renews.
#[test]
fn the_email_says_what_the_buyer_has() {
    block_on(async {
        let world = world();
        let world = &world;
        let email_of = |license: License| async move {
            world.outbox.queue_issued(&license, Actor::Admin).await.unwrap();
            world.outbox.deliver_due(10).await.unwrap();
            world.mailer.sent().pop().unwrap()
        };
        let granted = email_of(mint(world).await).await;
        assert!(!granted.text_body.contains("thank you for buying"), "an operator's mint is no purchase");
        assert!(granted.text_body.contains("here is your Pencil <Pro> & Co license."));
        assert!(granted.text_body.contains("Edition: Pro Edition (perpetual"), "the tier's display name");

        let membership = mint_with(world, |request| MintLicense {
            source: Some("gumroad".into()),
            source_ref: Some("sale-1".into()),
            subscription_id: Some("sub-1".into()),
            kind: Some(LicenseKind::Subscription),
            duration_days: Some(31),
            email: EmailAddress::parse("member@example.com").unwrap(),
            ..request
        })
        .await;
        let sold = email_of(membership).await;
        assert!(sold.text_body.contains("thank you for buying Pencil <Pro> & Co"));
        assert!(sold.text_body.contains("renews automatically, paid through 2026-12-24"), "{}", sold.text_body);
        assert!(sold.html_body.contains("renews automatically"));

        let term = mint_with(world, |request| MintLicense {
            duration_days: Some(365),
            email: EmailAddress::parse("term@example.com").unwrap(),
            ..request
        })
        .await;
        assert_eq!(term.kind, LicenseKind::FixedTerm);
        let term = email_of(term).await;
        assert!(term.text_body.contains("valid until 2027-11-23") && !term.text_body.contains("renews"));
    })
}

/// Mint-with-email is one use case: the email is queued once per license,
/// also when the mint is replayed, and only when asked for.
#[test]
fn issuing_with_the_email_queues_it_once_and_only_when_asked() {
    block_on(async {
        let world = world();
        let licensing = tessera_domain::licensing::LicensingService::new(world.issuance.clone(), world.outbox.clone());
        use tessera_domain::licensing::LicenseEmail;
        let request = |key: &str| MintLicense {
            idempotency_key: Some(tessera_domain::license::IdempotencyKey::parse(key).unwrap()),
            ..pencil_request()
        };
        let first = licensing.issue(request("order-1"), LicenseEmail::Send, Actor::Admin).await.unwrap();
        let delivery = first.email.expect("asked for").expect("queued");
        let again = licensing.issue(request("order-1"), LicenseEmail::Send, Actor::Admin).await.unwrap();
        assert!(again.minted.replayed);
        assert_eq!(again.email.unwrap().unwrap().id, delivery.id, "the same delivery, not a second email");
        let quiet = licensing.issue(request("order-2"), LicenseEmail::Skip, Actor::Admin).await.unwrap();
        assert!(quiet.email.is_none());
        assert_eq!(world.outbox.deliver_due(10).await.unwrap().sent, 1, "one email in all");
    })
}

/// Counts the sends in flight at once: each send waits one turn of the
/// executor before it completes, so sends made side by side overlap.
struct OverlapMailer {
    inner: Arc<InMemoryMailer>,
    in_flight: std::sync::atomic::AtomicUsize,
    most: Arc<std::sync::atomic::AtomicUsize>,
}

#[async_trait::async_trait]
impl Mailer for OverlapMailer {
    async fn send(&self, email: &Email) -> Result<Sent, SendError> {
        use std::sync::atomic::Ordering;
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        let mut waited = false;
        std::future::poll_fn(|cx| {
            if std::mem::replace(&mut waited, true) {
                return std::task::Poll::Ready(());
            }
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        })
        .await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.inner.send(email).await
    }
}

/// A pass sends its deliveries side by side, not one after another, and
/// settles each: all sent, none left claimed.
#[test]
fn a_pass_sends_its_deliveries_side_by_side() {
    block_on(async {
        let most = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let world = world_sending_through(|inner| {
            Arc::new(OverlapMailer { inner, in_flight: Default::default(), most: most.clone() })
        });
        let mut deliveries = Vec::new();
        for _ in 0..5 {
            deliveries.push(queued(&world).await);
        }
        let run = world.outbox.deliver_due(10).await.unwrap();
        assert_eq!(run.sent, 5);
        assert_eq!(most.load(std::sync::atomic::Ordering::SeqCst), 5, "all five sends in flight at once");
        assert_eq!(world.mailer.sent().len(), 5);
        for delivery in &deliveries {
            assert_eq!(reload(&world, delivery).await.status, DeliveryStatus::Sent);
        }
    });
}
