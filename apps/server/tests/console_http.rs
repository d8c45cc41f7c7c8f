//! The operator's console through `poem::test::TestClient` on the in-memory
//! store: sign-in (cookie, rate limit, audit), CSRF and cross-site refusals,
//! every page, every action through the admin use cases, and the dashboard's
//! numbers from a seeded history.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use poem::endpoint::BoxEndpoint;
use poem::http::StatusCode;
use poem::test::{TestClient, TestResponse};
use poem::{EndpointExt, Response};
use serde_json::{json, Value};
use tessera_domain::audit::{Actor, AuditFilter};
use tessera_domain::license::{LicenseKey, LicenseState};
use tessera_domain::mail::{DeliveryFilter, DeliveryStatus, SendError};
use tessera_domain::page::PageRequest;
use tessera_domain::storefront::{ConfiguredStorefront, EventFilter, EventStatus, RefundPolicy};
use tessera_gumroad::GumroadStorefront;
use tessera_memory::{InMemoryMailer, InMemoryStore, ManualClock};
use tessera_ring::{generate_private_key_pem, Keyring, SigningKey};
use tessera_server::http::{admin_app, public_app};
use tessera_server::state::AppState;
use time::macros::datetime;
use time::Duration;

const TOKEN: &str = "test-admin-token-that-is-long-enough";
const GUMROAD_SECRET: &str = "gumroad-secret-long-enough";

type Client = TestClient<BoxEndpoint<'static, Response>>;

struct World {
    state: Arc<AppState>,
    clock: Arc<ManualClock>,
    mailer: Arc<InMemoryMailer>,
    admin: Client,
    public: Client,
}

fn world() -> World {
    let catalog = support::pixel_app(None);
    // Gumroad with no product mapping: every sale fails, to be replayed.
    let gumroad = ConfiguredStorefront {
        adapter: Arc::new(GumroadStorefront::new(GUMROAD_SECRET, None)),
        on_refund: RefundPolicy::Revoke,
        products: BTreeMap::new(),
    };
    let key = SigningKey::from_pem("k1", &generate_private_key_pem(None).unwrap()).unwrap();
    let keyring = Arc::new(Keyring::new(key, vec![]).unwrap());
    let clock = Arc::new(ManualClock::at(datetime!(2026-11-23 12:00 UTC)));
    let mailer = Arc::new(InMemoryMailer::new());
    let settings = support::settings(keyring, clock.clone(), catalog, vec![gumroad], mailer.clone(), TOKEN);
    let state = AppState::new(Arc::new(InMemoryStore::new()), settings);
    World {
        admin: TestClient::new(admin_app(state.clone()).boxed()),
        public: TestClient::new(public_app(state.clone()).boxed()),
        state,
        clock,
        mailer,
    }
}

/// A signed-in browser: its session cookie and CSRF token.
struct Browser {
    cookie: String,
    csrf: String,
}

fn set_cookies(response: &TestResponse) -> Vec<String> {
    response.0.headers().get_all("set-cookie").iter().map(|value| value.to_str().unwrap().to_owned()).collect()
}

fn cookie_value(cookies: &[String], name: &str) -> Option<String> {
    cookies
        .iter()
        .filter_map(|cookie| cookie.split(';').next()?.strip_prefix(&format!("{name}=")).map(str::to_owned))
        .find(|value| !value.is_empty())
}

async fn text(response: TestResponse) -> String {
    response.0.into_body().into_string().await.unwrap()
}

fn location(response: &TestResponse) -> String {
    response.0.headers().get("location").expect("a redirect").to_str().unwrap().to_owned()
}

/// The sign-in form's cookie (double-submit CSRF before there is a session).
async fn sign_in_cookie(world: &World) -> String {
    let response = world.admin.get("/console/sign-in").send().await;
    response.assert_status_is_ok();
    cookie_value(&set_cookies(&response), "tessera_console_signin").expect("a sign-in cookie")
}

async fn post_sign_in(world: &World, form_cookie: &str, token: &str) -> TestResponse {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([("csrf", form_cookie), ("token", token)])
        .finish();
    world
        .admin
        .post("/console/sign-in")
        .header("Cookie", format!("tessera_console_signin={form_cookie}"))
        .content_type("application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
}

async fn sign_in(world: &World) -> Browser {
    let form_cookie = sign_in_cookie(world).await;
    let response = post_sign_in(world, &form_cookie, TOKEN).await;
    response.assert_status(StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/console");
    let cookie = cookie_value(&set_cookies(&response), "tessera_console").expect("a session cookie");
    let mut browser = Browser { cookie, csrf: String::new() };
    let page = text(get(world, &browser, "/console").await).await;
    browser.csrf = page
        .split(r#"name="csrf" value=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the sign-out form's CSRF token")
        .to_owned();
    browser
}

async fn get(world: &World, browser: &Browser, path: &str) -> TestResponse {
    world.admin.get(path).header("Cookie", format!("tessera_console={}", browser.cookie)).send().await
}

async fn post(world: &World, browser: &Browser, path: &str, fields: &[(&str, &str)]) -> TestResponse {
    let mut pairs = vec![("csrf", browser.csrf.as_str())];
    pairs.extend_from_slice(fields);
    let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
    world
        .admin
        .post(path)
        .header("Cookie", format!("tessera_console={}", browser.cookie))
        .content_type("application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
}

async fn mint_through_api(world: &World, tier: &str, email: &str, source: Option<&str>) -> LicenseKey {
    let response = world
        .admin
        .post("/admin/v1/licenses")
        .header("Authorization", format!("Bearer {TOKEN}"))
        .body_json(&json!({"product": "app", "tier": tier, "name": "Ada Lovelace", "email": email, "source": source}))
        .send()
        .await;
    response.assert_status(StatusCode::CREATED);
    let body: Value = response.0.into_body().into_json().await.unwrap();
    LicenseKey::parse(body["license"]["key"].as_str().unwrap()).unwrap()
}

async fn activate(world: &World, key: &LicenseKey, fingerprint: &str) {
    let body = json!({"license_key": key.as_str(), "fingerprint": fingerprint, "platform": "linux-x86_64",
                      "machine_name": "studio-pc"});
    world.public.post("/v1/activate").body_json(&body).send().await.assert_status_is_ok();
}

async fn audit_actions(world: &World, entity_type: &str) -> Vec<(String, Actor)> {
    let filter = AuditFilter { entity_type: Some(entity_type.into()), ..Default::default() };
    let page = world.state.reports.audit(&filter, &PageRequest::first(100)).await.unwrap();
    page.items.into_iter().map(|event| (event.action, event.actor)).collect()
}

const PAGES: [&str; 13] = [
    "/console",
    "/console?days=90",
    "/console/licenses",
    "/console/licenses/new",
    "/console/customers",
    "/console/events",
    "/console/deliveries",
    "/console/audit",
    "/console/flags",
    "/console/keys",
    "/console/events?status=failed",
    "/console/releases",
    "/console/releases?status=draft",
];

#[tokio::test]
async fn every_page_and_action_needs_a_session() {
    let world = world();
    let key = mint_through_api(&world, "pro", "ada@example.com", None).await;
    let license_page = format!("/console/licenses/{key}");
    for path in PAGES.iter().copied().chain([license_page.as_str()]) {
        let response = world.admin.get(path).send().await;
        response.assert_status(StatusCode::SEE_OTHER);
        assert_eq!(location(&response), "/console/sign-in", "{path}");
    }
    let forged = Browser { cookie: "x".repeat(43), csrf: "y".repeat(43) };
    let response = post(&world, &forged, &format!("/console/licenses/{key}/revoke"), &[("reason", "x")]).await;
    response.assert_status(StatusCode::SEE_OTHER);
    assert_eq!(world.state.issuance.get(&key).await.unwrap().state, LicenseState::Active);
}

#[tokio::test]
async fn signing_in_sets_a_strict_session_cookie_and_is_audited() {
    let world = world();
    let form_cookie = sign_in_cookie(&world).await;
    let refused = post_sign_in(&world, &form_cookie, "not-the-token").await;
    refused.assert_status(StatusCode::UNAUTHORIZED);
    assert!(set_cookies(&refused).iter().all(|cookie| !cookie.starts_with("tessera_console=")));
    assert!(text(refused).await.contains("That is not the admin token."));

    let response = post_sign_in(&world, &form_cookie, TOKEN).await;
    response.assert_status(StatusCode::SEE_OTHER);
    let cookies = set_cookies(&response);
    let session = cookies.iter().find(|cookie| cookie.starts_with("tessera_console=")).expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/console", "Max-Age=43200"] {
        assert!(session.contains(attribute), "{session} lacks {attribute}");
    }
    assert!(!session.contains("Secure"), "plain http through the tunnel: {session}");
    let mut recorded = audit_actions(&world, "console").await;
    recorded.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        recorded,
        [("console.sign_in_refused".to_owned(), Actor::System), ("console.signed_in".to_owned(), Actor::Admin)]
    );

    // Behind an https proxy the cookie is Secure.
    let body = format!("csrf={form_cookie}&token={TOKEN}");
    let behind_https = world
        .admin
        .post("/console/sign-in")
        .header("Cookie", format!("tessera_console_signin={form_cookie}"))
        .header("X-Forwarded-Proto", "https")
        .content_type("application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await;
    behind_https.assert_status(StatusCode::SEE_OTHER);
    assert!(set_cookies(&behind_https)
        .iter()
        .any(|cookie| cookie.starts_with("tessera_console=") && cookie.contains("; Secure")));
}

#[tokio::test]
async fn signing_out_ends_the_session() {
    let world = world();
    let browser = sign_in(&world).await;
    let response = post(&world, &browser, "/console/sign-out", &[]).await;
    response.assert_status(StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/console/sign-in");
    assert!(set_cookies(&response)
        .iter()
        .any(|cookie| cookie.starts_with("tessera_console=;") && cookie.contains("Max-Age=0")));
    let after = get(&world, &browser, "/console").await;
    after.assert_status(StatusCode::SEE_OTHER);
    assert!(audit_actions(&world, "console").await.iter().any(|(action, _)| action == "console.signed_out"));
}

#[tokio::test]
async fn wrong_tokens_are_rate_limited_per_address() {
    let world = world();
    let form_cookie = sign_in_cookie(&world).await;
    for _ in 0..tessera_server::console_sessions::SIGN_INS_PER_MINUTE {
        post_sign_in(&world, &form_cookie, "guess").await.assert_status(StatusCode::UNAUTHORIZED);
    }
    let limited = post_sign_in(&world, &form_cookie, TOKEN).await;
    limited.assert_status(StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.0.headers().get("retry-after").is_some());
    let refused = audit_actions(&world, "console").await;
    assert_eq!(refused.len(), tessera_server::console_sessions::SIGN_INS_PER_MINUTE as usize, "{refused:?}");
}

#[tokio::test]
async fn sign_in_needs_its_form_cookie_and_the_same_site() {
    let world = world();
    let form_cookie = sign_in_cookie(&world).await;
    let body = format!("csrf={form_cookie}&token={TOKEN}");
    let no_cookie = world
        .admin
        .post("/console/sign-in")
        .content_type("application/x-www-form-urlencoded")
        .body(body.clone())
        .send()
        .await;
    no_cookie.assert_status(StatusCode::FORBIDDEN);
    let cross_site = world
        .admin
        .post("/console/sign-in")
        .header("Cookie", format!("tessera_console_signin={form_cookie}"))
        .header("Sec-Fetch-Site", "cross-site")
        .content_type("application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await;
    cross_site.assert_status(StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn every_page_renders_under_a_strict_content_security_policy() {
    let world = world();
    let key = mint_through_api(&world, "year", "ada@example.com", Some("gumroad")).await;
    let browser = sign_in(&world).await;
    let license_page = format!("/console/licenses/{key}");
    let customer_page = "/console/customers/ada%40example.com".to_owned();
    for path in PAGES.iter().copied().chain([license_page.as_str(), customer_page.as_str()]) {
        let response = get(&world, &browser, path).await;
        response.assert_status_is_ok();
        let csp = response.0.headers().get("content-security-policy").unwrap().to_str().unwrap().to_owned();
        assert!(csp.starts_with("default-src 'none'") && !csp.contains("unsafe"), "{path}: {csp}");
        assert_eq!(response.0.headers().get("x-frame-options").unwrap(), "DENY");
        let page = text(response).await;
        assert!(page.contains(r#"<nav aria-label="Console">"#), "{path}");
        assert!(!page.contains("<script>") && !page.contains(" style="), "{path}: nothing inline");
    }
    for asset in ["/console/assets/console.css", "/console/assets/console.js"] {
        world.admin.get(asset).send().await.assert_status_is_ok();
    }
    let missing = get(&world, &browser, "/console/licenses/APP-NOPE-NOPE-NOPE").await;
    missing.assert_status(StatusCode::NOT_FOUND);
    let bad_filter = get(&world, &browser, "/console/licenses?status=sideways").await;
    bad_filter.assert_status(StatusCode::BAD_REQUEST);
    assert!(text(bad_filter).await.contains("unknown license status `sideways`"));
}

#[tokio::test]
async fn a_form_without_the_session_token_or_from_another_site_is_refused() {
    let world = world();
    let key = mint_through_api(&world, "pro", "ada@example.com", None).await;
    let mut browser = sign_in(&world).await;
    let path = format!("/console/licenses/{key}/revoke");
    let real_csrf = std::mem::replace(&mut browser.csrf, "z".repeat(43));
    post(&world, &browser, &path, &[("reason", "chargeback")]).await.assert_status(StatusCode::FORBIDDEN);
    browser.csrf = real_csrf;
    let body = format!("csrf={}&reason=chargeback", browser.csrf);
    let cross_site = world
        .admin
        .post(&path)
        .header("Cookie", format!("tessera_console={}", browser.cookie))
        .header("Origin", "https://evil.example")
        .content_type("application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await;
    cross_site.assert_status(StatusCode::FORBIDDEN);
    assert_eq!(world.state.issuance.get(&key).await.unwrap().state, LicenseState::Active, "nothing changed");
}

#[tokio::test]
async fn the_operator_mints_finds_changes_and_frees_through_the_use_cases() {
    let world = world();
    let browser = sign_in(&world).await;
    let form = text(get(&world, &browser, "/console/licenses/new").await).await;
    assert!(form.contains(r#"value="app/pro""#) && form.contains(r#"value="app/year""#), "the catalog's tiers");
    let idempotency_key = form.split(r#"name="idempotency_key" value=""#).nth(1).unwrap().split('"').next().unwrap();
    let fields = [
        ("idempotency_key", idempotency_key),
        ("product_tier", "app/year"),
        ("name", "Grace Hopper"),
        ("email", "grace@example.com"),
        ("send_email", "1"),
    ];
    let minted = post(&world, &browser, "/console/licenses", &fields).await;
    minted.assert_status(StatusCode::SEE_OTHER);
    let page_path = location(&minted);
    assert!(page_path.ends_with("?done=minted-emailed"), "{page_path}");
    // The same form sent twice mints once.
    let again = post(&world, &browser, "/console/licenses", &fields).await;
    assert_eq!(location(&again), page_path);
    let found = text(get(&world, &browser, "/console/licenses?q=grace").await).await;
    assert_eq!(found.matches("/console/licenses/APP-").count(), 1, "one license found by email");
    let key_text = page_path.trim_start_matches("/console/licenses/").split('?').next().unwrap().to_owned();
    let key = LicenseKey::parse(&key_text).unwrap();
    let license = world.state.issuance.get(&key).await.unwrap();
    assert_eq!((license.tier.as_str(), license.source.as_str()), ("year", "admin"));
    let page = text(get(&world, &browser, &page_path).await).await;
    assert!(page.contains("Minted; the license email is queued.") && page.contains(&license.token));

    let bad = post(
        &world,
        &browser,
        "/console/licenses",
        &[("product_tier", "app/gold"), ("name", "X"), ("email", "x@example.com")],
    )
    .await;
    bad.assert_status(StatusCode::BAD_REQUEST);
    assert!(text(bad).await.contains("gold"), "the domain's message names the unknown tier");

    let lic = get(&world, &browser, &format!("/console/licenses/{key}/license.lic")).await;
    lic.assert_status_is_ok();
    assert_eq!(lic.0.headers().get("content-disposition").unwrap(), &format!("attachment; filename=\"{key}.lic\""));
    assert_eq!(text(lic).await, format!("{}\n", license.token));

    activate(&world, &key, "machine-fingerprint-0001").await;
    let machines = world.state.activation.machines(&license).await.unwrap();
    let freed =
        post(&world, &browser, &format!("/console/machines/{}/free", machines[0].id), &[("license", key.as_str())])
            .await;
    assert_eq!(location(&freed), format!("/console/licenses/{key}?done=freed"));
    assert!(world.state.activation.machines(&license).await.unwrap().is_empty(), "the seat is free");

    let action = |name: &'static str| format!("/console/licenses/{key}/{name}");
    let no_reason = post(&world, &browser, &action("revoke"), &[]).await;
    no_reason.assert_status(StatusCode::BAD_REQUEST);
    post(&world, &browser, &action("suspend"), &[]).await.assert_status(StatusCode::SEE_OTHER);
    post(&world, &browser, &action("reinstate"), &[]).await.assert_status(StatusCode::SEE_OTHER);
    let before = world.state.issuance.get(&key).await.unwrap().expires_at.unwrap();
    post(&world, &browser, &action("renew"), &[("duration_days", "30")]).await.assert_status(StatusCode::SEE_OTHER);
    assert_eq!(world.state.issuance.get(&key).await.unwrap().expires_at.unwrap(), before + Duration::days(30));
    post(&world, &browser, &action("redeliver"), &[]).await.assert_status(StatusCode::SEE_OTHER);
    let revoked = post(&world, &browser, &action("revoke"), &[("reason", "chargeback")]).await;
    assert_eq!(location(&revoked), format!("/console/licenses/{key}?done=revoked"));
    let stored = world.state.issuance.get(&key).await.unwrap();
    assert_eq!((stored.state, stored.revoke_reason.as_deref()), (LicenseState::Revoked, Some("chargeback")));
    // A refusal shows the domain's message with the API's status.
    let refused = post(&world, &browser, &action("suspend"), &[]).await;
    refused.assert_status(StatusCode::CONFLICT);
    assert!(text(refused).await.contains("revoked"));

    let trail = audit_actions(&world, "license").await;
    let by_admin: Vec<&str> =
        trail.iter().filter(|(_, actor)| *actor == Actor::Admin).map(|(action, _)| action.as_str()).collect();
    for expected in ["license.minted", "license.suspended", "license.reinstated", "license.renewed", "license.revoked"]
    {
        assert!(by_admin.contains(&expected), "{expected} by admin in {by_admin:?}");
    }
    let page = text(get(&world, &browser, &format!("/console/licenses/{key}")).await).await;
    assert!(page.contains("license.revoked") && page.contains("chargeback"), "the audit trail is on the page");
}

#[tokio::test]
async fn failed_events_are_replayed_and_failed_deliveries_retried() {
    let world = world();
    let browser = sign_in(&world).await;
    let sale = include_str!("../../../adapters/gumroad/tests/fixtures/sale-ping.txt")
        .lines()
        .filter(|line| !line.starts_with('#') && line.contains('='))
        .collect::<Vec<_>>()
        .join("&");
    world
        .public
        .post(format!("/webhooks/gumroad?secret={GUMROAD_SECRET}"))
        .content_type("application/x-www-form-urlencoded")
        .body(sale)
        .send()
        .await;
    let failed = EventFilter { storefront: None, status: Some(EventStatus::Failed) };
    let events = world.state.reports.storefront_events(&failed, &PageRequest::first(5)).await.unwrap().items;
    assert_eq!(events.len(), 1, "an unmapped product fails the sale");
    let event = &events[0];
    let list = text(get(&world, &browser, "/console/events?status=failed").await).await;
    assert!(list.contains(&format!("/console/events/{}", event.id)));
    let everything = text(get(&world, &browser, "/console/events").await).await;
    let failed_first = everything.split(r#"id="failed-events""#).nth(1).expect("failed events first");
    assert!(failed_first.split(r#"id="events""#).next().unwrap().contains(&event.id.to_string()));
    let detail = text(get(&world, &browser, &format!("/console/events/{}", event.id)).await).await;
    assert!(detail.contains("no product mapping"), "the error is shown");
    let replayed = post(&world, &browser, &format!("/console/events/{}/replay", event.id), &[]).await;
    assert_eq!(location(&replayed), format!("/console/events/{}?done=replayed", event.id));
    let after = world.state.reports.storefront_event(event.id).await.unwrap().unwrap();
    assert_eq!(after.attempts, event.attempts + 1, "processed again");

    let key = mint_through_api(&world, "pro", "ada@example.com", None).await;
    world.state.outbox.redeliver(&key, Actor::Admin).await.unwrap();
    world.mailer.fail_next([SendError::Rejected("inactive recipient".into())]);
    world.state.outbox.deliver_due(10).await.unwrap();
    let failed_only = DeliveryFilter { status: Some(DeliveryStatus::Failed), license_key: None };
    let failed = world.state.outbox.list(&failed_only, &PageRequest::first(5)).await.unwrap().items;
    assert_eq!(failed.len(), 1);
    let page = text(get(&world, &browser, "/console/deliveries?status=failed").await).await;
    assert!(
        page.contains("inactive recipient") && page.contains(&format!("/console/deliveries/{}/retry", failed[0].id))
    );
    let retried = post(&world, &browser, &format!("/console/deliveries/{}/retry", failed[0].id), &[]).await;
    assert_eq!(location(&retried), "/console/deliveries?done=retried");
    world.state.outbox.deliver_due(10).await.unwrap();
    let delivery = world.state.outbox.get(failed[0].id).await.unwrap().unwrap();
    assert_eq!(delivery.status, DeliveryStatus::Sent);
    let again = post(&world, &browser, &format!("/console/deliveries/{}/retry", failed[0].id), &[]).await;
    again.assert_status(StatusCode::CONFLICT);
}

/// The number in a chart's caption: "<figcaption …>Sales: <strong>N</strong>".
fn chart_total(page: &str, id: &str) -> u64 {
    let chart = page.split(&format!(r#"id="{id}""#)).nth(1).expect("the chart");
    chart.split("<strong>").nth(1).unwrap().split('<').next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn the_dashboard_counts_a_seeded_history() {
    let world = world();
    // 40 days ago: 2 operator mints; 10 days ago: 3 sales, 1 activation; today: 1 sale, 2 activations.
    world.clock.set(datetime!(2026-10-14 09:00 UTC));
    mint_through_api(&world, "pro", "old1@example.com", None).await;
    mint_through_api(&world, "pro", "old2@example.com", None).await;
    world.clock.set(datetime!(2026-11-13 09:00 UTC));
    let mut sales = Vec::new();
    for n in 0..3 {
        sales.push(mint_through_api(&world, "year", &format!("buyer{n}@example.com"), Some("gumroad")).await);
    }
    activate(&world, &sales[0], "fingerprint-a-000001").await;
    world.clock.set(datetime!(2026-11-23 12:00 UTC));
    let today = mint_through_api(&world, "year", "today@example.com", Some("stripe")).await;
    activate(&world, &today, "fingerprint-b-000001").await;
    activate(&world, &sales[1], "fingerprint-c-000001").await;
    // One license expiring within 14 days.
    world
        .admin
        .post("/admin/v1/licenses")
        .header("Authorization", format!("Bearer {TOKEN}"))
        .body_json(
            &json!({"product": "app", "tier": "pro", "name": "Soon", "email": "soon@example.com", "duration_days": 7}),
        )
        .send()
        .await
        .assert_status(StatusCode::CREATED);

    let browser = sign_in(&world).await;
    let page = text(get(&world, &browser, "/console").await).await;
    assert_eq!(chart_total(&page, "chart-sales"), 4);
    assert_eq!(chart_total(&page, "chart-mints"), 5);
    assert_eq!(chart_total(&page, "chart-activations"), 3);
    assert_eq!(page.matches("<rect").count(), 3 * 30, "30 bars per chart");
    assert!(page.contains(r#"<strong id="active-machines">3</strong>"#));
    assert!(page.contains("<strong>1</strong> licenses expiring within 14 days"), "expiring soon");
    let quarter = text(get(&world, &browser, "/console?days=90").await).await;
    assert_eq!(chart_total(&quarter, "chart-mints"), 7, "the two old mints are within 90 days");
    assert_eq!(quarter.matches("<rect").count(), 3 * 90);
    // Licenses by product and tier: pro (2 old + soon) active, year 4 active.
    let table = page.split(r#"id="licenses-by-tier""#).nth(1).unwrap();
    assert!(table.contains(r#"status=active">3<"#) && table.contains(r#"status=active">4<"#), "{table}");
    let expiring = text(get(&world, &browser, "/console/licenses?expiring=14").await).await;
    assert!(expiring.contains("soon@example.com") && !expiring.contains("today@example.com"));
}

#[tokio::test]
async fn an_open_flag_is_closed_once_from_the_console() {
    let world = world();
    let key = mint_through_api(&world, "pro", "ada@example.com", None).await;
    let body = json!({"license_key": key.as_str(), "fingerprint": "fingerprint-flag-0001"});
    let leased: Value =
        world.public.post("/v1/activate").body_json(&body).send().await.0.into_body().into_json().await.unwrap();
    let lease = leased["lease"].as_str().expect("a lease");
    world
        .public
        .post("/v1/flags")
        .header("Authorization", format!("Bearer {lease}"))
        .body_json(&json!({"reason": "shared_key", "message": "seen on 40 machines"}))
        .send()
        .await
        .assert_status(StatusCode::ACCEPTED);
    let browser = sign_in(&world).await;
    let page = text(get(&world, &browser, "/console/flags?status=open").await).await;
    assert!(page.contains("seen on 40 machines"), "{page}");
    let flag_id = page.split("/console/flags/").nth(1).unwrap().split('/').next().unwrap().to_owned();
    let path = format!("/console/flags/{flag_id}/review");
    let closed = post(&world, &browser, &path, &[("status", "actioned"), ("action", "revoked the key")]).await;
    assert_eq!(location(&closed), "/console/flags?done=reviewed");
    let again = post(&world, &browser, &path, &[("status", "dismissed")]).await;
    again.assert_status(StatusCode::CONFLICT);
    let wrong = post(&world, &browser, &path, &[("status", "open")]).await;
    assert!(wrong.0.status().is_client_error());
    let actioned = text(get(&world, &browser, "/console/flags?status=actioned").await).await;
    assert!(actioned.contains("revoked the key"));
    let trail = audit_actions(&world, "license").await;
    assert!(trail.contains(&("flag.reviewed".to_owned(), Actor::Admin)), "{trail:?}");
}

type ApiRequest<'a> = poem::test::TestRequestBuilder<'a, BoxEndpoint<'static, Response>>;

fn api(request: ApiRequest<'_>) -> ApiRequest<'_> {
    request.header("Authorization", format!("Bearer {TOKEN}"))
}

#[tokio::test]
async fn releases_are_published_and_yanked_from_the_console_through_the_use_cases() {
    let world = world();
    let created = api(world.admin.post("/admin/v1/releases")).body_json(&json!({"product": "app", "version": "1.0.0"}));
    let created: Value = created.send().await.0.into_body().into_json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let upload = api(world.admin.put(format!("/admin/v1/releases/{id}/artifacts/PixelApp.zip")))
        .content_type("application/octet-stream")
        .body("zip bytes");
    upload.send().await.assert_status(StatusCode::CREATED);
    let browser = sign_in(&world).await;

    let page = text(get(&world, &browser, "/console/releases?status=draft").await).await;
    assert!(page.contains("app 1.0.0") && page.contains("PixelApp.zip"), "{page}");
    let published = post(&world, &browser, &format!("/console/releases/{id}/publish"), &[]).await;
    published.assert_status(StatusCode::SEE_OTHER);
    assert_eq!(location(&published), "/console/releases?done=publish");
    let again = post(&world, &browser, &format!("/console/releases/{id}/publish"), &[]).await;
    again.assert_status(StatusCode::CONFLICT);
    let yanked = post(&world, &browser, &format!("/console/releases/{id}/yank"), &[]).await;
    yanked.assert_status(StatusCode::SEE_OTHER);
    let shown = world.state.releases.find(id.parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(shown.release.status, tessera_domain::release::ReleaseStatus::Yanked);
    let actions = audit_actions(&world, "release").await;
    for action in ["release.published", "release.yanked"] {
        assert!(actions.contains(&(action.to_owned(), Actor::Admin)), "{action} by admin: {actions:?}");
    }
}
