//! The buyers' portal through `poem::test::TestClient`: the same answer for
//! known and unknown addresses, the emailed link, freeing a machine, CSRF,
//! security headers, refused links and the hourly limits.

mod support;

use std::sync::Arc;
use std::time::Duration as StdDuration;

use poem::endpoint::BoxEndpoint;
use poem::test::{TestClient, TestResponse};
use poem::{EndpointExt, Response};
use serde_json::{json, Value};
use tessera_domain::audit::{Actor, AuditFilter};
use tessera_domain::license::{Activation, LicenseKey};
use tessera_domain::mail::{DeliveryFilter, DeliveryKind};
use tessera_domain::page::PageRequest;
use tessera_memory::{InMemoryMailer, InMemoryStore, ManualClock};
use tessera_ring::{generate_private_key_pem, Keyring, SigningKey};
use tessera_server::http::{admin_app, public_app};
use tessera_server::rate_limit::{Limits, RateLimits};
use tessera_server::state::{AppState, Settings};
use time::macros::datetime;
use time::Duration;

const TOKEN: &str = "test-admin-token-that-is-long-enough";
const RENEW: &str = "https://shop.example.com/l/app";

struct World {
    state: Arc<AppState>,
    clock: Arc<ManualClock>,
    mailer: Arc<InMemoryMailer>,
    admin: TestClient<BoxEndpoint<'static, Response>>,
    public: TestClient<BoxEndpoint<'static, Response>>,
}

fn world_with(rate_limits: Option<RateLimits>) -> World {
    let catalog = support::pixel_app(Some(RENEW));
    let key = SigningKey::from_pem("k1", &generate_private_key_pem(None).unwrap()).unwrap();
    let keyring = Arc::new(Keyring::new(key, vec![]).unwrap());
    let clock = Arc::new(ManualClock::at(datetime!(2026-11-23 12:00 UTC)));
    let mailer = Arc::new(InMemoryMailer::new());
    let settings =
        Settings { rate_limits, ..support::settings(keyring, clock.clone(), catalog, vec![], mailer.clone(), TOKEN) };
    let state = AppState::new(Arc::new(InMemoryStore::new()), settings);
    World {
        admin: TestClient::new(admin_app(state.clone()).boxed()),
        public: TestClient::new(public_app(state.clone()).boxed()),
        state,
        clock,
        mailer,
    }
}

fn world() -> World {
    world_with(None)
}

async fn mint(world: &World, tier: &str, email: &str) -> String {
    let response = world
        .admin
        .post("/admin/v1/licenses")
        .header("Authorization", format!("Bearer {TOKEN}"))
        .body_json(&json!({"product": "app", "tier": tier, "name": "Ada", "email": email}))
        .send()
        .await;
    response.assert_status(poem::http::StatusCode::CREATED);
    let body: Value = response.0.into_body().into_json().await.unwrap();
    body["license"]["key"].as_str().unwrap().to_owned()
}

async fn activate(world: &World, key: &str, fingerprint: &str, name: &str) {
    let body = json!({"license_key": key, "fingerprint": fingerprint, "platform": "macos-arm64", "machine_name": name});
    world.public.post("/v1/activate").body_json(&body).send().await.assert_status_is_ok();
}

/// The `tessera_csrf` cookie set by `GET /portal`.
async fn csrf(world: &World) -> String {
    let response = world.public.get("/portal").send().await;
    response.assert_status_is_ok();
    let cookie = response.0.headers().get("set-cookie").expect("a CSRF cookie").to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    cookie.split(';').next().unwrap().strip_prefix("tessera_csrf=").unwrap().to_owned()
}

async fn post_form(world: &World, path: &str, csrf: Option<&str>, fields: &[(&str, &str)]) -> TestResponse {
    let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
    let mut request = world.public.post(path).content_type("application/x-www-form-urlencoded").body(body);
    if let Some(csrf) = csrf {
        request = request.header("Cookie", format!("tessera_csrf={csrf}"));
    }
    request.send().await
}

async fn redeliver(world: &World, csrf: &str, email: &str) -> TestResponse {
    post_form(world, "/portal/redeliver", Some(csrf), &[("csrf", csrf), ("email", email)]).await
}

async fn text(response: TestResponse) -> String {
    response.0.into_body().into_string().await.unwrap()
}

/// Waits for the request handled in the background to queue its email.
async fn portal_deliveries(world: &World, expected: usize) -> usize {
    let count = || async {
        let page = world.state.outbox.list(&DeliveryFilter::default(), &PageRequest::first(100)).await.unwrap();
        page.items.iter().filter(|delivery| delivery.kind == DeliveryKind::Portal).count()
    };
    for _ in 0..100 {
        if count().await >= expected {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(10)).await;
    }
    // Give a wrongly queued extra one the chance to show up too.
    tokio::time::sleep(StdDuration::from_millis(50)).await;
    count().await
}

/// Sends the queued portal email and returns the link's token.
async fn emailed_token(world: &World) -> String {
    world.state.outbox.deliver_due(10).await.unwrap();
    let sent = world.mailer.sent();
    let email = sent.last().expect("the portal email was sent");
    let start = email.text_body.find("/portal/licenses?token=").expect("a link") + "/portal/licenses?token=".len();
    email.text_body[start..].split_whitespace().next().unwrap().to_owned()
}

async fn machines_of(world: &World, key: &str) -> Vec<Activation> {
    let license = world.state.issuance.get(&LicenseKey::parse(key).unwrap()).await.unwrap();
    world.state.activation.machines(&license).await.unwrap()
}

fn assert_security_headers(response: &TestResponse) {
    let headers = response.0.headers();
    let csp = headers.get("content-security-policy").expect("CSP").to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(headers.get("referrer-policy").unwrap(), "no-referrer");
    assert_eq!(headers.get("x-frame-options").unwrap(), "DENY");
    assert_eq!(headers.get("cache-control").unwrap(), "no-store");
}

#[tokio::test]
async fn the_form_page_is_accessible_html_with_security_headers() {
    let world = world();
    let response = world.public.get("/portal").send().await;
    response.assert_status_is_ok();
    assert_security_headers(&response);
    assert!(response.0.headers().get("content-type").unwrap().to_str().unwrap().starts_with("text/html"));
    let page = text(response).await;
    assert!(page.contains(r#"<html lang="en">"#), "{page}");
    assert!(page.contains(r#"<label for="email">"#) && page.contains(r#"id="email""#), "labelled input");
    assert!(page.contains(r#"name="viewport""#), "readable on a phone");
    let css = world.public.get("/portal/style.css").send().await;
    css.assert_status_is_ok();
    assert!(text(css).await.contains(":focus-visible"));
}

#[tokio::test]
async fn known_and_unknown_addresses_get_byte_identical_pages_and_only_the_known_one_an_email() {
    let world = world();
    mint(&world, "pro", "ada@example.com").await;
    let csrf = csrf(&world).await;

    let known = redeliver(&world, &csrf, "ada@example.com").await;
    known.assert_status_is_ok();
    assert_security_headers(&known);
    let known = text(known).await;
    assert_eq!(portal_deliveries(&world, 1).await, 1, "the known address gets one email");

    let unknown = redeliver(&world, &csrf, "nobody@example.com").await;
    unknown.assert_status_is_ok();
    let unknown = text(unknown).await;
    assert_eq!(known.as_bytes(), unknown.as_bytes(), "no enumeration through the page");
    assert_eq!(portal_deliveries(&world, 2).await, 1, "the unknown address gets none");

    // Different case and spaces are the same address.
    redeliver(&world, &csrf, "  ADA@example.com ").await.assert_status_is_ok();
    assert_eq!(portal_deliveries(&world, 2).await, 2);
}

#[tokio::test]
async fn the_emailed_link_lists_licenses_and_machines_and_frees_a_seat() {
    let world = world();
    let perpetual = mint(&world, "pro", "ada@example.com").await;
    let yearly = mint(&world, "year", "ada@example.com").await;
    let someone_elses = mint(&world, "pro", "bob@example.com").await;
    activate(&world, &perpetual, "fp-studio-0001", "Studio iMac").await;
    activate(&world, &perpetual, "fp-laptop-0002", "Travel laptop").await;
    activate(&world, &someone_elses, "fp-bob-0003", "Bob's PC").await;
    let csrf = csrf(&world).await;
    redeliver(&world, &csrf, "ada@example.com").await.assert_status_is_ok();
    assert_eq!(portal_deliveries(&world, 1).await, 1);
    let token = emailed_token(&world).await;

    let email = world.mailer.sent().last().unwrap().clone();
    assert_eq!(email.to, "ada@example.com");
    assert!(email.text_body.contains(&perpetual) && email.text_body.contains(&yearly), "both licenses");
    assert!(!email.text_body.contains(&someone_elses));
    assert_eq!(email.attachments.len(), 2, "one .lic per license");

    let page = world.public.get("/portal/licenses").query("token", &token).send().await;
    page.assert_status_is_ok();
    assert_security_headers(&page);
    let page = text(page).await;
    for expected in [perpetual.as_str(), yearly.as_str(), "Studio iMac", "Travel laptop", "macos-arm64", "2 of 2"] {
        assert!(page.contains(expected), "page shows {expected}: {page}");
    }
    assert!(!page.contains("Bob&#39;s PC") && !page.contains("Bob's PC"), "only the link's own machines");
    assert!(!page.contains(RENEW), "nothing expires within 30 days yet");

    // Free the travel laptop.
    let live = machines_of(&world, &perpetual).await;
    let laptop = live.iter().find(|machine| machine.name.as_deref() == Some("Travel laptop")).unwrap();
    let freed = post_form(
        &world,
        "/portal/machines/deactivate",
        Some(&csrf),
        &[("csrf", &csrf), ("token", &token), ("activation", &laptop.id.to_string())],
    )
    .await;
    freed.assert_status(poem::http::StatusCode::SEE_OTHER);
    let location = freed.0.headers().get("location").unwrap().to_str().unwrap().to_owned();
    assert!(location.starts_with("/portal/licenses?token="), "{location}");
    let after = text(world.public.get(&location).send().await).await;
    assert!(after.contains("deactivated") && !after.contains("Travel laptop") && after.contains("1 of 2"), "{after}");
    let audit = world.state.reports.audit(&AuditFilter::default(), &PageRequest::first(100)).await.unwrap();
    let event = audit.items.iter().find(|event| event.action == "activation.deactivated").unwrap();
    assert_eq!(event.actor, Actor::Buyer);

    // Bob's machine is not reachable with Ada's link.
    let bobs = machines_of(&world, &someone_elses).await[0].id.to_string();
    let refused = post_form(
        &world,
        "/portal/machines/deactivate",
        Some(&csrf),
        &[("csrf", &csrf), ("token", &token), ("activation", &bobs)],
    )
    .await;
    refused.assert_status(poem::http::StatusCode::NOT_FOUND);
    assert_eq!(machines_of(&world, &someone_elses).await.len(), 1);

    // Eleven months on, the yearly license is within 30 days of expiry: renew link.
    world.clock.advance(Duration::days(340));
    redeliver(&world, &csrf, "ada@example.com").await.assert_status_is_ok();
    assert_eq!(portal_deliveries(&world, 2).await, 2);
    let fresh = emailed_token(&world).await;
    let page = text(world.public.get("/portal/licenses").query("token", &fresh).send().await).await;
    assert_eq!(page.matches(RENEW).count(), 1, "only the expiring license: {page}");
}

#[tokio::test]
async fn forms_without_the_csrf_cookie_are_refused_and_change_nothing() {
    let world = world();
    mint(&world, "pro", "ada@example.com").await;
    let csrf = csrf(&world).await;
    let missing = post_form(&world, "/portal/redeliver", None, &[("csrf", &csrf), ("email", "ada@example.com")]).await;
    missing.assert_status(poem::http::StatusCode::FORBIDDEN);
    let forged_field = "A".repeat(43);
    let mismatch =
        post_form(&world, "/portal/redeliver", Some(&csrf), &[("csrf", &forged_field), ("email", "ada@example.com")])
            .await;
    mismatch.assert_status(poem::http::StatusCode::FORBIDDEN);
    assert_eq!(portal_deliveries(&world, 1).await, 0);

    let invalid = redeliver(&world, &csrf, "not-an-address").await;
    invalid.assert_status(poem::http::StatusCode::BAD_REQUEST);
    let page = text(invalid).await;
    assert!(page.contains("role=\"alert\"") && page.contains("value=\"not-an-address\""), "{page}");
}

#[tokio::test]
async fn expired_and_tampered_links_get_a_clear_page() {
    let world = world();
    mint(&world, "pro", "ada@example.com").await;
    let csrf = csrf(&world).await;
    redeliver(&world, &csrf, "ada@example.com").await.assert_status_is_ok();
    portal_deliveries(&world, 1).await;
    let token = emailed_token(&world).await;

    // One changed character of the signed part.
    let mut tampered = token.clone().into_bytes();
    let middle = tampered.len() / 2;
    tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let refused = world.public.get("/portal/licenses").query("token", &tampered).send().await;
    refused.assert_status(poem::http::StatusCode::BAD_REQUEST);
    assert!(text(refused).await.contains("This link is not valid"));

    // A lease or license token is not a portal link.
    let missing = world.public.get("/portal/licenses").send().await;
    missing.assert_status(poem::http::StatusCode::BAD_REQUEST);

    world.clock.advance(Duration::minutes(61));
    let expired = world.public.get("/portal/licenses").query("token", &token).send().await;
    expired.assert_status(poem::http::StatusCode::GONE);
    assert_security_headers(&expired);
    let page = text(expired).await;
    assert!(page.contains("This link has expired") && page.contains("href=\"/portal\""), "{page}");
}

#[tokio::test]
async fn redeliver_is_limited_per_ip_and_per_address_for_known_and_unknown_alike() {
    let limits = Limits {
        activate: 10,
        validate: 100,
        heartbeat: 60,
        deactivate: 10,
        usage: 60,
        webhook_auth_failures: 10,
        downloads: 60,
        portal_redeliver_per_ip: 5,
        portal_redeliver_per_email: 3,
    };
    let world = world_with(Some(RateLimits::new(&limits, vec![], None)));
    mint(&world, "pro", "ada@example.com").await;
    let csrf = csrf(&world).await;
    for _ in 0..3 {
        redeliver(&world, &csrf, "ada@example.com").await.assert_status_is_ok();
    }
    let limited = redeliver(&world, &csrf, "ada@example.com").await;
    limited.assert_status(poem::http::StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = limited.0.headers().get("retry-after").unwrap().to_str().unwrap().parse().unwrap();
    assert!((1..=3600).contains(&retry_after), "{retry_after}");
    assert!(text(limited).await.contains("Too many"));
    assert_eq!(portal_deliveries(&world, 3).await, 3, "the limited request queued nothing");

    // The fifth request from this IP still passes (another address), the sixth does not.
    redeliver(&world, &csrf, "nobody@example.com").await.assert_status_is_ok();
    redeliver(&world, &csrf, "other@example.com").await.assert_status(poem::http::StatusCode::TOO_MANY_REQUESTS);
}

type Request<'a> = poem::test::TestRequestBuilder<'a, BoxEndpoint<'static, Response>>;

fn admin(request: Request<'_>) -> Request<'_> {
    request.header("Authorization", format!("Bearer {TOKEN}"))
}

#[tokio::test]
async fn the_page_lists_each_licenses_downloads_and_their_links_serve_the_files() {
    let world = world();
    let perpetual = mint(&world, "pro", "ada@example.com").await;
    let created = admin(world.admin.post("/admin/v1/releases"))
        .body_json(&json!({"product": "app", "version": "2.1.0"}))
        .send()
        .await;
    let release: Value = created.0.into_body().into_json().await.unwrap();
    let release = release["id"].as_str().unwrap().to_owned();
    for (name, platform) in [("PixelApp-2.1.0.dmg", "macos"), ("PixelApp-2.1.0.msi", "windows")] {
        let uploaded = admin(world.admin.put(format!("/admin/v1/releases/{release}/artifacts/{name}")))
            .query("platform", &platform)
            .content_type("application/octet-stream")
            .body(format!("bytes of {name}"))
            .send()
            .await;
        uploaded.assert_status(poem::http::StatusCode::CREATED);
    }
    let csrf = csrf(&world).await;
    redeliver(&world, &csrf, "ada@example.com").await.assert_status_is_ok();
    portal_deliveries(&world, 1).await;
    let token = emailed_token(&world).await;

    let before = text(world.public.get("/portal/licenses").query("token", &token).send().await).await;
    assert!(before.contains(&perpetual) && !before.contains("Downloads"), "a draft is offered to no one");
    admin(world.admin.post(format!("/admin/v1/releases/{release}/publish"))).send().await.assert_status_is_ok();
    let page = text(world.public.get("/portal/licenses").query("token", &token).send().await).await;
    assert!(page.contains("Downloads · version 2.1.0"), "{page}");
    let start = page.find("href=\"/v1/downloads/").expect("a download link") + "href=\"".len();
    let link = page[start..start + page[start..].find('"').unwrap()].replace("&amp;", "&");
    assert!(page.contains("PixelApp-2.1.0.msi"), "every platform's file");
    let file = world.public.get(&link).send().await;
    file.assert_status_is_ok();
    let body = file.0.into_body().into_string().await.unwrap();
    assert!(body.starts_with("bytes of PixelApp-2.1.0."), "{body}");
}
