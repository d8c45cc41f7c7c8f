//! The HTTP shell through `poem::test::TestClient`: the real public and admin
//! services over the in-memory store, a manual clock and a real ring signer.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use poem::endpoint::BoxEndpoint;
use poem::test::{TestClient, TestResponse};
use poem::{EndpointExt, Response};
use serde_json::{json, Value};
use tessera_domain::audit::AuditLog;
use tessera_domain::catalog::{Catalog, Product, Tier};
use tessera_domain::issuance::LICENSE_TOKEN_TYPE;
use tessera_domain::license::{LicenseFilter, LicenseRepository};
use tessera_domain::page::PageRequest;
use tessera_memory::{InMemoryStore, ManualClock};
use tessera_ring::{generate_private_key_pem, Keyring, SigningKey};
use tessera_server::http::{admin_app, public_app};
use tessera_server::state::AppState;
use time::macros::datetime;

const TOKEN: &str = "test-admin-token-that-is-long-enough";

struct World {
    store: Arc<InMemoryStore>,
    state: Arc<AppState>,
    mailer: Arc<tessera_memory::InMemoryMailer>,
    keyring: Arc<Keyring>,
    admin: TestClient<BoxEndpoint<'static, Response>>,
    public: TestClient<BoxEndpoint<'static, Response>>,
}

fn catalog() -> Catalog {
    let tier = |slug: &str, seats, duration_days| {
        (
            slug.to_owned(),
            Tier {
                name: None,
                slug: slug.into(),
                features: vec!["export".into()],
                seats,
                duration_days,
                app_versions: None,
                downloads: Default::default(),
            },
        )
    };
    Catalog::new(vec![Product {
        slug: "app".into(),
        name: "App".into(),
        key_prefix: "APP".into(),
        renew_url: None,
        tiers: BTreeMap::from([tier("standard", 3, None), tier("pro", 5, Some(365))]),
    }])
    .unwrap()
}

fn world() -> World {
    let store = Arc::new(InMemoryStore::new());
    let key = SigningKey::from_pem("k1", &generate_private_key_pem(None).unwrap()).unwrap();
    let mailer = Arc::new(tessera_memory::InMemoryMailer::new());
    let keyring = Arc::new(Keyring::new(key, vec![]).unwrap());
    let clock = Arc::new(ManualClock::at(datetime!(2026-11-23 12:00 UTC)));
    let settings = support::settings(keyring.clone(), clock, catalog(), vec![], mailer.clone(), TOKEN);
    let state = AppState::new(store.clone(), settings);
    World {
        store,
        state: state.clone(),
        mailer,
        keyring,
        admin: TestClient::new(admin_app(state.clone()).boxed()),
        public: TestClient::new(public_app(state).boxed()),
    }
}

fn mint_body(email: &str) -> Value {
    json!({"product": "app", "tier": "pro", "name": "Ada Lovelace", "email": email})
}

async fn json_of(response: TestResponse) -> Value {
    response.0.into_body().into_json().await.unwrap()
}

/// Asserts the status and the `{code, message}` shape, and returns the code.
async fn error_code(response: TestResponse, status: u16) -> String {
    assert_eq!(response.0.status().as_u16(), status);
    let body = json_of(response).await;
    assert!(body["message"].as_str().is_some_and(|message| !message.is_empty()), "{body}");
    assert_eq!(body.as_object().unwrap().len(), 2, "only code and message: {body}");
    body["code"].as_str().unwrap().to_owned()
}

async fn license_count(world: &World) -> usize {
    world
        .store
        .list(&LicenseFilter::all(datetime!(2026-11-23 12:00 UTC)), &PageRequest::new(Some(500), None))
        .await
        .unwrap()
        .items
        .len()
}

#[tokio::test]
async fn admin_routes_need_the_exact_token() {
    let world = world();
    let missing = world.admin.get("/admin/v1/licenses").send().await;
    assert_eq!(error_code(missing, 401).await, "UNAUTHORIZED");
    let wrong = world.admin.get("/admin/v1/licenses").header("Authorization", "Bearer not-the-token").send().await;
    assert_eq!(error_code(wrong, 401).await, "UNAUTHORIZED");
    let basic = world.admin.get("/admin/v1/licenses").header("Authorization", format!("Basic {TOKEN}")).send().await;
    assert_eq!(error_code(basic, 401).await, "UNAUTHORIZED");
    let mint = world.admin.post("/admin/v1/licenses").body_json(&mint_body("a@example.com")).send().await;
    assert_eq!(error_code(mint, 401).await, "UNAUTHORIZED");
    assert_eq!(license_count(&world).await, 0);

    let right = world.admin.get("/admin/v1/licenses").header("Authorization", format!("Bearer {TOKEN}")).send().await;
    right.assert_status_is_ok();
}

#[tokio::test]
async fn admin_routes_do_not_exist_on_the_public_listener() {
    let world = world();
    for path in ["/admin/v1/licenses", "/docs", "/admin/v1/audit"] {
        let response = world.public.get(path).header("Authorization", format!("Bearer {TOKEN}")).send().await;
        assert_eq!(error_code(response, 404).await, "NOT_FOUND", "{path}");
    }
    let spec = json_of(world.public.get("/openapi.json").send().await).await;
    assert!(spec["paths"].as_object().unwrap().keys().all(|path| !path.starts_with("/admin")), "{}", spec["paths"]);
}

#[tokio::test]
async fn a_minted_token_verifies_against_the_served_jwks() {
    let world = world();
    let response = world
        .admin
        .post("/admin/v1/licenses")
        .header("Authorization", format!("Bearer {TOKEN}"))
        .body_json(&mint_body("ada@example.com"))
        .send()
        .await;
    response.assert_status(poem::http::StatusCode::CREATED);
    let minted = json_of(response).await;
    let token = minted["token"].as_str().unwrap();
    assert!(minted["license"]["key"].as_str().unwrap().starts_with("APP-"));
    assert_eq!(minted["license"]["status"], "active");

    let jwks_response = world.public.get("/.well-known/jwks.json").send().await;
    jwks_response.assert_status_is_ok();
    let jwks = tessera_ring::Jwks::parse(&jwks_response.0.into_body().into_string().await.unwrap()).unwrap();
    let verified = jwks.verifier().unwrap().verify(token, LICENSE_TOKEN_TYPE, 1_795_000_000, true).unwrap();
    let claims: Value = verified.claims_as().unwrap();
    assert_eq!(claims["sub"], minted["license"]["key"]);
    assert_eq!(claims["email"], "ada@example.com");
    assert_eq!(claims["seats"], 5);
    assert_eq!(jwks.keys[0].kid, world.keyring.active().kid);
}

#[tokio::test]
async fn an_idempotency_key_makes_a_retried_mint_return_the_first_license() {
    let world = world();
    let mint = |key: Option<&'static str>| {
        let mut request = world
            .admin
            .post("/admin/v1/licenses")
            .header("Authorization", format!("Bearer {TOKEN}"))
            .body_json(&mint_body("ada@example.com"));
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        request.send()
    };
    let first = mint(Some("order-1")).await;
    first.assert_status(poem::http::StatusCode::CREATED);
    assert!(first.0.headers().get("Idempotent-Replayed").is_none());
    let first = json_of(first).await;
    let again = mint(Some("order-1")).await;
    again.assert_status(poem::http::StatusCode::CREATED);
    again.assert_header("Idempotent-Replayed", "true");
    let again = json_of(again).await;
    assert_eq!(first["license"]["key"], again["license"]["key"]);
    assert_eq!(first["token"], again["token"]);
    assert_eq!(license_count(&world).await, 1);

    let reused = world
        .admin
        .post("/admin/v1/licenses")
        .header("Authorization", format!("Bearer {TOKEN}"))
        .header("Idempotency-Key", "order-1")
        .body_json(&mint_body("someone-else@example.com"))
        .send()
        .await;
    assert_eq!(error_code(reused, 422).await, "IDEMPOTENCY_KEY_REUSED");

    let a = json_of(mint(None).await).await;
    let b = json_of(mint(None).await).await;
    assert_ne!(a["license"]["key"], b["license"]["key"]);
    assert_eq!(license_count(&world).await, 3);
}

#[tokio::test]
async fn bad_input_gets_a_typed_4xx_and_changes_nothing() {
    let world = world();
    let post = |body: Vec<u8>| {
        world
            .admin
            .post("/admin/v1/licenses")
            .header("Authorization", format!("Bearer {TOKEN}"))
            .content_type("application/json")
            .body(body)
            .send()
    };
    let with = |field: &str, value: Value| {
        let mut body = mint_body("ada@example.com");
        body[field] = value;
        serde_json::to_vec(&body).unwrap()
    };
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("malformed JSON", b"{\"product\": \"app\",".to_vec(), 400, "INVALID_REQUEST"),
        ("not an object", b"[1, 2]".to_vec(), 400, "INVALID_REQUEST"),
        ("missing email", br#"{"product":"app","tier":"pro","name":"A"}"#.to_vec(), 400, "INVALID_REQUEST"),
        ("unknown product", with("product", json!("nope")), 400, "UNKNOWN_PRODUCT"),
        ("unknown tier", with("tier", json!("gold")), 400, "UNKNOWN_TIER"),
        ("bad email", with("email", json!("not-an-email")), 400, "INVALID_EMAIL"),
        ("empty name", with("name", json!("  ")), 400, "INVALID_NAME"),
        ("negative seats", with("seats", json!(-1)), 400, "INVALID_SEATS"),
        ("zero seats", with("seats", json!(0)), 400, "INVALID_SEATS"),
        ("seats as text", with("seats", json!("three")), 400, "INVALID_REQUEST"),
        ("negative duration", with("duration_days", json!(-5)), 400, "INVALID_TERM"),
        ("bad key", with("key", json!("lower case key!")), 400, "INVALID_KEY"),
        ("oversized", with("notes", json!("x".repeat(70 * 1024))), 413, "PAYLOAD_TOO_LARGE"),
    ];
    for (what, body, status, code) in cases {
        assert_eq!(error_code(post(body).await, status).await, code, "{what}");
    }
    let not_json = world
        .admin
        .post("/admin/v1/licenses")
        .header("Authorization", format!("Bearer {TOKEN}"))
        .content_type("text/plain")
        .body("product=app")
        .send()
        .await;
    let status = not_json.0.status().as_u16();
    assert!((400..500).contains(&status), "{status}");
    let bad_cursor = world
        .admin
        .get("/admin/v1/licenses")
        .query("cursor", &"not-a-cursor")
        .header("Authorization", format!("Bearer {TOKEN}"))
        .send()
        .await;
    assert_eq!(error_code(bad_cursor, 400).await, "INVALID_CURSOR");
    let unknown = world
        .admin
        .post("/admin/v1/licenses/APP-AAAA-BBBB-CCCC/revoke")
        .header("Authorization", format!("Bearer {TOKEN}"))
        .body_json(&json!({"reason": "refund"}))
        .send()
        .await;
    assert_eq!(error_code(unknown, 404).await, "NOT_FOUND");

    assert_eq!(license_count(&world).await, 0, "no bad request created a license");
    let audit = world.store.list_audit(&Default::default(), &PageRequest::new(Some(500), None)).await.unwrap();
    assert!(audit.items.is_empty(), "no bad request was audited as a change");
}

#[tokio::test]
async fn every_change_is_audited_with_actor_admin() {
    let world = world();
    let auth = format!("Bearer {TOKEN}");
    let minted = json_of(
        world
            .admin
            .post("/admin/v1/licenses")
            .header("Authorization", &auth)
            .body_json(&mint_body("a@example.com"))
            .send()
            .await,
    )
    .await;
    let key = minted["license"]["key"].as_str().unwrap().to_owned();
    for (action, body) in [
        ("suspend", json!({})),
        ("reinstate", json!({})),
        ("renew", json!({"duration_days": 30})),
        ("revoke", json!({"reason": "chargeback"})),
    ] {
        let response = world
            .admin
            .post(format!("/admin/v1/licenses/{key}/{action}"))
            .header("Authorization", &auth)
            .body_json(&body)
            .send()
            .await;
        response.assert_status_is_ok();
    }
    let revoked =
        json_of(world.admin.get(format!("/admin/v1/licenses/{key}")).header("Authorization", &auth).send().await).await;
    assert_eq!(revoked["status"], "revoked");
    assert_eq!(revoked["revoke_reason"], "chargeback");

    let audit = json_of(world.admin.get("/admin/v1/audit").header("Authorization", &auth).send().await).await;
    let mut actions: Vec<_> =
        audit["items"].as_array().unwrap().iter().map(|event| event["action"].as_str().unwrap().to_owned()).collect();
    actions.sort();
    assert_eq!(
        actions,
        ["license.minted", "license.reinstated", "license.renewed", "license.revoked", "license.suspended"]
    );
    assert!(audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|event| event["actor"] == "admin" && event["entity_id"] == key.as_str()));
}

#[tokio::test]
async fn health_probes_the_store() {
    let world = world();
    let ok = world.public.get("/health").send().await;
    ok.assert_status_is_ok();
    assert_eq!(json_of(ok).await, json!({"status": "ok", "db": "ok"}));

    world.store.set_unavailable(true);
    let down = world.public.get("/health").send().await;
    assert_eq!(down.0.status().as_u16(), 503);
    assert_eq!(json_of(down).await["db"], "down");
    let mint = world
        .admin
        .post("/admin/v1/licenses")
        .header("Authorization", format!("Bearer {TOKEN}"))
        .body_json(&mint_body("a@example.com"))
        .send()
        .await;
    assert_eq!(error_code(mint, 503).await, "UNAVAILABLE");
}

#[tokio::test]
async fn the_admin_listener_serves_its_spec_and_swagger_ui() {
    let world = world();
    let spec = json_of(world.admin.get("/openapi.json").send().await).await;
    assert!(spec["paths"]["/admin/v1/licenses"]["post"].is_object());
    let docs = world.admin.get("/docs").send().await;
    docs.assert_status_is_ok();
    assert!(docs.0.into_body().into_string().await.unwrap().contains("swagger"));
}

#[tokio::test]
async fn mint_with_send_email_queues_one_email_and_the_outbox_is_operable() {
    let world = world();
    let auth = format!("Bearer {TOKEN}");
    let mut body = mint_body("buyer@example.com");
    body["send_email"] = json!(true);
    let mint = || {
        world
            .admin
            .post("/admin/v1/licenses")
            .header("Authorization", &auth)
            .header("Idempotency-Key", "order-7")
            .body_json(&body)
            .send()
    };
    let first = json_of(mint().await).await;
    let delivery_id = first["delivery"]["id"].as_str().unwrap().to_owned();
    assert_eq!(first["delivery"]["status"], "pending");
    assert_eq!(first["delivery"]["to"], "buyer@example.com");
    let repeated = json_of(mint().await).await;
    assert_eq!(repeated["delivery"]["id"], delivery_id.as_str(), "a repeated mint queues no second email");

    let run = world.state.outbox.deliver_due(10).await.unwrap();
    assert_eq!(run.sent, 1);
    assert_eq!(world.mailer.sent().len(), 1);
    let key = first["license"]["key"].as_str().unwrap().to_owned();

    let listed =
        world.admin.get("/admin/v1/deliveries").query("status", &"sent").header("Authorization", &auth).send().await;
    let listed = json_of(listed).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert_eq!(listed["items"][0]["provider_message_id"], "memory-1");
    assert_eq!(listed["next_cursor"], Value::Null);

    // A sent delivery is not retried; redeliver queues a new one.
    let retry_path = format!("/admin/v1/deliveries/{delivery_id}/retry");
    let refused = world.admin.post(&retry_path).header("Authorization", &auth).send().await;
    assert_eq!(error_code(refused, 409).await, "NOT_RETRYABLE");
    let redeliver =
        world.admin.post(format!("/admin/v1/licenses/{key}/redeliver")).header("Authorization", &auth).send().await;
    assert_eq!(redeliver.0.status().as_u16(), 202);
    let redelivery = json_of(redeliver).await;
    assert_eq!((redelivery["kind"].as_str(), redelivery["status"].as_str()), (Some("redelivery"), Some("pending")));
    world.mailer.fail_next([tessera_domain::mail::SendError::Rejected("406 inactive recipient".into())]);
    world.state.outbox.deliver_due(10).await.unwrap();
    let failed =
        world.admin.get("/admin/v1/deliveries").query("status", &"failed").header("Authorization", &auth).send().await;
    let failed = json_of(failed).await;
    assert_eq!(failed["items"][0]["last_error"], "406 inactive recipient");
    let redelivery_id = redelivery["id"].as_str().unwrap();
    let retried = world
        .admin
        .post(format!("/admin/v1/deliveries/{redelivery_id}/retry"))
        .header("Authorization", &auth)
        .send()
        .await;
    assert_eq!(json_of(retried).await["status"], "pending");
    assert_eq!(world.state.outbox.deliver_due(10).await.unwrap().sent, 1);
    let shown =
        world.admin.get(format!("/admin/v1/deliveries/{redelivery_id}")).header("Authorization", &auth).send().await;
    assert_eq!(json_of(shown).await["status"], "sent");
    let by_license =
        world.admin.get("/admin/v1/deliveries").query("license_key", &key).header("Authorization", &auth).send().await;
    assert_eq!(json_of(by_license).await["items"].as_array().unwrap().len(), 2);

    // Bad input: clear 4xx, never a 500.
    for (path, status, code) in [
        ("/admin/v1/deliveries/not-a-uuid", 404, "NOT_FOUND"),
        ("/admin/v1/deliveries/00000000-0000-0000-0000-000000000000", 404, "NOT_FOUND"),
    ] {
        assert_eq!(error_code(world.admin.get(path).header("Authorization", &auth).send().await, status).await, code);
    }
    let bad_status =
        world.admin.get("/admin/v1/deliveries").query("status", &"lost").header("Authorization", &auth).send().await;
    assert_eq!(error_code(bad_status, 400).await, "INVALID_REQUEST");
    let bad_key = world
        .admin
        .get("/admin/v1/deliveries")
        .query("license_key", &"lower case")
        .header("Authorization", &auth)
        .send()
        .await;
    assert_eq!(error_code(bad_key, 400).await, "INVALID_KEY");
    let bad_cursor =
        world.admin.get("/admin/v1/deliveries").query("cursor", &"zzz").header("Authorization", &auth).send().await;
    assert_eq!(error_code(bad_cursor, 400).await, "INVALID_CURSOR");
    let unknown = world
        .admin
        .post("/admin/v1/licenses/APP-PRO-NOPE1-NOPE2/redeliver")
        .header("Authorization", &auth)
        .send()
        .await;
    assert_eq!(error_code(unknown, 404).await, "NOT_FOUND");
    let revoke = world
        .admin
        .post(format!("/admin/v1/licenses/{key}/revoke"))
        .header("Authorization", &auth)
        .body_json(&json!({"reason": "refund"}))
        .send()
        .await;
    assert_eq!(revoke.0.status().as_u16(), 200);
    let revoked =
        world.admin.post(format!("/admin/v1/licenses/{key}/redeliver")).header("Authorization", &auth).send().await;
    assert_eq!(error_code(revoked, 409).await, "REVOKED");
    let anonymous = world.admin.get("/admin/v1/deliveries").send().await;
    assert_eq!(error_code(anonymous, 401).await, "UNAUTHORIZED");
}

#[tokio::test]
async fn stats_count_licenses_machines_and_mints() {
    let world = world();
    let auth = format!("Bearer {TOKEN}");
    let mut keys = Vec::new();
    for (tier, email) in [("pro", "a@example.com"), ("pro", "b@example.com"), ("standard", "c@example.com")] {
        let body = json!({"product": "app", "tier": tier, "name": "Buyer", "email": email});
        let minted =
            world.admin.post("/admin/v1/licenses").header("Authorization", &auth).body_json(&body).send().await;
        keys.push(json_of(minted).await["license"]["key"].as_str().unwrap().to_owned());
    }
    let revoked = world
        .admin
        .post(format!("/admin/v1/licenses/{}/revoke", keys[2]))
        .header("Authorization", &auth)
        .body_json(&json!({"reason": "chargeback"}))
        .send()
        .await;
    assert_eq!(revoked.0.status().as_u16(), 200);
    let activated = world
        .public
        .post("/v1/activate")
        .body_json(&json!({"license_key": keys[0], "fingerprint": "m-1"}))
        .send()
        .await;
    assert_eq!(activated.0.status().as_u16(), 200);

    let stats = json_of(world.admin.get("/admin/v1/stats").header("Authorization", &auth).send().await).await;
    assert_eq!(stats["licenses"]["total"], 3);
    assert_eq!(stats["licenses"]["by_status"], json!({"active": 2, "revoked": 1}));
    assert_eq!(stats["licenses"]["by_tier"], json!({"app/pro": 2, "app/standard": 1}));
    assert_eq!(stats["licenses"]["by_source"], json!({"admin": 3}));
    assert_eq!(stats["active_machines"], 1);
    assert_eq!(stats["minted"], json!({"last_24h": 3, "last_30d": 3}));
    assert_eq!(stats["deliveries"], json!({"pending": 0, "failed": 0, "sent": 0}));
    let anonymous = world.admin.get("/admin/v1/stats").send().await;
    assert_eq!(error_code(anonymous, 401).await, "UNAUTHORIZED");
}

#[tokio::test]
async fn customers_follow_their_licenses_and_an_email_change_reaches_every_token() {
    let world = world();
    let auth = format!("Bearer {TOKEN}");
    for tier in ["pro", "standard"] {
        let body = json!({"product": "app", "tier": tier, "name": "Ada Lovelace", "email": "Ada@Example.com"});
        let minted =
            world.admin.post("/admin/v1/licenses").header("Authorization", &auth).body_json(&body).send().await;
        assert_eq!(minted.0.status().as_u16(), 201);
    }
    let listed = json_of(world.admin.get("/admin/v1/customers").header("Authorization", &auth).send().await).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "a mint adds its buyer once: {listed}");
    assert_eq!(
        (listed["items"][0]["email"].as_str(), listed["items"][0]["license_count"].as_u64()),
        (Some("ada@example.com"), Some(2))
    );

    let created = world
        .admin
        .post("/admin/v1/customers")
        .header("Authorization", &auth)
        .body_json(&json!({"email": "grace@example.com", "name": "Grace Hopper"}))
        .send()
        .await;
    assert_eq!(created.0.status().as_u16(), 201);
    let again = world
        .admin
        .post("/admin/v1/customers")
        .header("Authorization", &auth)
        .body_json(&json!({"email": "GRACE@example.com", "name": "Grace"}))
        .send()
        .await;
    assert_eq!(error_code(again, 409).await, "EMAIL_TAKEN");
    let searched =
        world.admin.get("/admin/v1/customers").query("q", &"hopper").header("Authorization", &auth).send().await;
    assert_eq!(json_of(searched).await["items"][0]["email"], "grace@example.com");
    let paged = world.admin.get("/admin/v1/customers").query("limit", &1).header("Authorization", &auth).send().await;
    let paged = json_of(paged).await;
    assert_eq!(paged["next_cursor"], "ada@example.com");

    // The buyer changed address: every license is re-signed with it, and redelivery goes there.
    let patch = world
        .admin
        .patch("/admin/v1/customers/ada@example.com")
        .header("Authorization", &auth)
        .body_json(&json!({"email": "ada@newmail.example"}))
        .send()
        .await;
    assert_eq!(patch.0.status().as_u16(), 200);
    let shown =
        json_of(world.admin.get("/admin/v1/customers/ada@newmail.example").header("Authorization", &auth).send().await)
            .await;
    let licenses = shown["licenses"].as_array().unwrap();
    assert_eq!(licenses.len(), 2);
    for license in licenses {
        assert_eq!(license["email"], "ada@newmail.example");
        let payload = license["token"].as_str().unwrap().split('.').nth(1).unwrap();
        let claims: Value = serde_json::from_slice(&tessera_ring::b64url_decode(payload).unwrap()).unwrap();
        assert_eq!(claims["email"], "ada@newmail.example", "the token carries the new address");
    }
    let key = licenses[0]["key"].as_str().unwrap();
    let redelivered =
        world.admin.post(format!("/admin/v1/licenses/{key}/redeliver")).header("Authorization", &auth).send().await;
    assert_eq!(json_of(redelivered).await["to"], "ada@newmail.example");
    let old = world.admin.get("/admin/v1/customers/ada@example.com").header("Authorization", &auth).send().await;
    assert_eq!(error_code(old, 404).await, "NOT_FOUND");

    let taken = world
        .admin
        .patch("/admin/v1/customers/ada@newmail.example")
        .header("Authorization", &auth)
        .body_json(&json!({"email": "grace@example.com"}))
        .send()
        .await;
    assert_eq!(error_code(taken, 409).await, "EMAIL_TAKEN");
    let bad = world.admin.get("/admin/v1/customers/not-an-email").header("Authorization", &auth).send().await;
    assert_eq!(error_code(bad, 400).await, "INVALID_EMAIL");
    let bad_patch = world
        .admin
        .patch("/admin/v1/customers/grace@example.com")
        .header("Authorization", &auth)
        .body_json(&json!({"name": ""}))
        .send()
        .await;
    assert_eq!(error_code(bad_patch, 400).await, "INVALID_NAME");
}

#[tokio::test]
async fn metrics_count_requests_per_route_and_show_the_store() {
    let world = world();
    let auth = format!("Bearer {TOKEN}");
    let mut one_seat = mint_body("m@example.com");
    one_seat["seats"] = json!(1);
    let minted =
        world.admin.post("/admin/v1/licenses").header("Authorization", &auth).body_json(&one_seat).send().await;
    let key = json_of(minted).await["license"]["key"].as_str().unwrap().to_owned();
    world.admin.get(format!("/admin/v1/licenses/{key}")).header("Authorization", &auth).send().await;
    world.public.get("/no/such/route/12345").send().await;
    world.public.post("/v1/validate").body_json(&json!({"license_key": key})).send().await;
    for machine in ["metrics-machine-a", "metrics-machine-b"] {
        world.public.post("/v1/activate").body_json(&json!({"license_key": key, "fingerprint": machine})).send().await;
    }

    let refused = world.admin.get("/metrics").send().await;
    assert_eq!(refused.0.status().as_u16(), 401);
    let scraped = world.admin.get("/metrics").header("Authorization", &auth).send().await;
    assert_eq!(scraped.0.status().as_u16(), 200);
    let text = scraped.0.into_body().into_string().await.unwrap();
    for line in [
        r#"tessera_http_requests_total{listener="admin",method="POST",route="/admin/v1/licenses",status="201"} 1"#,
        r#"tessera_http_requests_total{listener="admin",method="GET",route="/admin/v1/licenses/:param",status="200"} 1"#,
        r#"tessera_http_requests_total{listener="public",method="GET",route="unmatched",status="404"} 1"#,
        r#"tessera_http_requests_total{listener="public",method="POST",route="/v1/validate",status="200"} 1"#,
        r#"tessera_licenses{status="active",source="admin"} 1"#,
        r#"tessera_deliveries{status="pending"} 0"#,
        "tessera_licenses_minted_last_24h 1",
        r#"tessera_licenses_issued{source="admin"} 1"#,
        r#"tessera_activation_requests_total{code="ACTIVATED"} 1"#,
        r#"tessera_activation_requests_total{code="TOO_MANY_MACHINES"} 1"#,
        "tessera_seat_limit_rejections_total 1",
        r#"tessera_signatures_total{token="license"} 1"#,
        r#"tessera_signatures_total{token="lease"} 1"#,
    ] {
        assert!(text.lines().any(|candidate| candidate == line), "missing `{line}` in:\n{text}");
    }
    assert!(text.contains("tessera_http_request_duration_seconds_bucket{"), "latency histograms");
}
