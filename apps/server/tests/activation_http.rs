//! The public activation endpoints and the admin seat management through
//! `poem::test::TestClient`, on the in-memory store and a real ring keyring.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use poem::endpoint::BoxEndpoint;
use poem::test::TestClient;
use poem::{EndpointExt, Response};
use ring::signature::{UnparsedPublicKey, ED25519};
use serde_json::{json, Value};
use tessera_domain::activation::ActivationPolicy;
use tessera_domain::catalog::{Catalog, Product, Tier};
use tessera_domain::issuance::{LEASE_TOKEN_TYPE, LICENSE_TOKEN_TYPE};
use tessera_memory::{InMemoryStore, ManualClock};
use tessera_ring::{b64url_decode, generate_private_key_pem, Keyring, SigningKey};
use tessera_server::http::{admin_app, public_app};
use tessera_server::state::{AppState, Settings};
use time::macros::datetime;

const TOKEN: &str = "test-admin-token-that-is-long-enough";

struct World {
    keyring: Arc<Keyring>,
    admin: TestClient<BoxEndpoint<'static, Response>>,
    public: TestClient<BoxEndpoint<'static, Response>>,
}

fn world() -> World {
    world_with(ActivationPolicy::default())
}

fn world_with(policy: ActivationPolicy) -> World {
    let tier = Tier {
        name: None,
        slug: "pro".into(),
        features: vec!["export".into()],
        seats: 3,
        duration_days: None,
        app_versions: Some(vec![2]),
        downloads: Default::default(),
    };
    let catalog = Catalog::new(vec![Product {
        slug: "app".into(),
        name: "App".into(),
        key_prefix: "APP".into(),
        renew_url: None,
        tiers: BTreeMap::from([("pro".into(), tier)]),
    }])
    .unwrap();
    let key = SigningKey::from_pem("k1", &generate_private_key_pem(None).unwrap()).unwrap();
    let mailer = Arc::new(tessera_memory::InMemoryMailer::new());
    let keyring = Arc::new(Keyring::new(key, vec![]).unwrap());
    let clock = Arc::new(ManualClock::at(datetime!(2026-11-23 12:00 UTC)));
    let settings =
        Settings { activation: policy, ..support::settings(keyring.clone(), clock, catalog, vec![], mailer, TOKEN) };
    let state = AppState::new(Arc::new(InMemoryStore::new()), settings);
    World {
        keyring,
        admin: TestClient::new(admin_app(state.clone()).boxed()),
        public: TestClient::new(public_app(state).boxed()),
    }
}

async fn mint(world: &World) -> (String, String) {
    let response = world
        .admin
        .post("/admin/v1/licenses")
        .header("Authorization", format!("Bearer {TOKEN}"))
        .body_json(&json!({"product": "app", "tier": "pro", "name": "Ada", "email": "ada@example.com"}))
        .send()
        .await;
    let body: Value = response.0.into_body().into_json().await.unwrap();
    (body["license"]["key"].as_str().unwrap().to_owned(), body["token"].as_str().unwrap().to_owned())
}

/// Status, exact body bytes and the `Tessera-Signature` header.
async fn call(world: &World, path: &str, body: Value) -> (u16, Vec<u8>, Option<String>) {
    let response = world.public.post(path).body_json(&body).send().await;
    let status = response.0.status().as_u16();
    let signature = response.0.headers().get("Tessera-Signature").map(|value| value.to_str().unwrap().to_owned());
    (status, response.0.into_body().into_vec().await.unwrap(), signature)
}

fn json_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

/// Checks `kid="…", alg="EdDSA", sig="…"` over `body` with the keyring's key.
fn signature_verifies(world: &World, header: &str, body: &[u8]) -> bool {
    let fields: BTreeMap<&str, &str> = header
        .split(", ")
        .filter_map(|field| field.split_once('='))
        .map(|(name, value)| (name, value.trim_matches('"')))
        .collect();
    assert_eq!((fields["kid"], fields["alg"]), ("k1", "EdDSA"), "{header}");
    let signature = b64url_decode(fields["sig"]).unwrap();
    UnparsedPublicKey::new(&ED25519, world.keyring.active().public_key()).verify(body, &signature).is_ok()
}

fn activate_body(key: &str, fingerprint: &str) -> Value {
    json!({"license_key": key, "fingerprint": fingerprint, "platform": "linux", "app_version": "2.0.1", "nonce": "n-1"})
}

#[tokio::test]
async fn activate_returns_a_signed_lease_and_a_signed_response() {
    let world = world();
    let (key, license_token) = mint(&world).await;
    let (status, body, signature) = call(&world, "/v1/activate", activate_body(&key, "machine-a")).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let signature = signature.expect("signed response");
    assert!(signature_verifies(&world, &signature, &body));
    let mut forged = body.clone();
    let last = forged.len() - 2;
    forged[last] ^= 1;
    assert!(!signature_verifies(&world, &signature, &forged), "a changed byte fails");

    let answer = json_of(&body);
    assert_eq!(answer["nonce"], "n-1");
    assert_eq!(answer["license"]["seats_used"], 1);
    assert_eq!(answer["license"]["status"], "active");
    let lease = answer["lease"].as_str().unwrap();
    let verifier = world.keyring.verifier();
    let verified = verifier.verify(lease, LEASE_TOKEN_TYPE, 1_795_000_000, true).unwrap();
    assert_eq!(verified.claims["fp"], "machine-a");
    assert_eq!(verified.claims["jti"], answer["activation_id"]);
    assert!(verifier.verify(lease, LICENSE_TOKEN_TYPE, 1_795_000_000, true).is_err(), "a lease is no license");
    assert!(verifier.verify(&license_token, LEASE_TOKEN_TYPE, 1_795_000_000, true).is_err(), "a license is no lease");

    // The same machine again: same activation, still one seat.
    let (_, again, _) = call(&world, "/v1/activate", activate_body(&key, "machine-a")).await;
    assert_eq!(json_of(&again)["activation_id"], answer["activation_id"]);
    assert_eq!(json_of(&again)["license"]["seats_used"], 1);
}

#[tokio::test]
async fn seats_refusals_and_validation_codes() {
    let world = world();
    let (key, _) = mint(&world).await;
    for machine in ["a", "b", "c"] {
        assert_eq!(call(&world, "/v1/activate", activate_body(&key, machine)).await.0, 200);
    }
    let (status, body, signature) = call(&world, "/v1/activate", activate_body(&key, "d")).await;
    assert_eq!((status, json_of(&body)["code"].as_str()), (409, Some("TOO_MANY_MACHINES")));
    assert!(signature.is_some(), "errors are signed too");

    let validate = |fingerprint: Option<&str>, version: &str| json!({"license_key": key, "fingerprint": fingerprint, "app_version": version, "nonce": "v-9"});
    let (status, body, signature) = call(&world, "/v1/validate", validate(Some("a"), "2.1")).await;
    assert_eq!(status, 200);
    assert!(signature_verifies(&world, &signature.unwrap(), &body));
    let answer = json_of(&body);
    assert_eq!(
        (answer["valid"].as_bool(), answer["code"].as_str(), answer["nonce"].as_str()),
        (Some(true), Some("VALID"), Some("v-9"))
    );
    assert_eq!(answer["license"]["seats_used"], 3);
    let code = |body: Vec<u8>| json_of(&body)["code"].as_str().unwrap().to_owned();
    assert_eq!(code(call(&world, "/v1/validate", validate(Some("zz"), "2.1")).await.1), "NO_MACHINE");
    assert_eq!(code(call(&world, "/v1/validate", validate(None, "3.0")).await.1), "VERSION_MISMATCH");
    let unknown = json!({"license_key": "APP-PRO-NOPE-NOPE"});
    let (status, body, _) = call(&world, "/v1/validate", unknown).await;
    assert_eq!((status, code(body)), (200, "NOT_FOUND".to_owned()));

    let old_app = json!({"license_key": key, "fingerprint": "e", "app_version": "1.0"});
    let (status, body, _) = call(&world, "/v1/activate", old_app).await;
    assert_eq!((status, code(body)), (403, "VERSION_MISMATCH".to_owned()));
    let impostor = json!({"license_key": key, "fingerprint": "a", "email": "mallory@example.com"});
    let (status, body, _) = call(&world, "/v1/activate", impostor).await;
    assert_eq!((status, code(body)), (403, "IDENTITY_MISMATCH".to_owned()));

    let revoked = world
        .admin
        .post(format!("/admin/v1/licenses/{key}/revoke"))
        .header("Authorization", format!("Bearer {TOKEN}"))
        .body_json(&json!({"reason": "refund"}))
        .send()
        .await;
    revoked.assert_status_is_ok();
    let (status, body, _) = call(&world, "/v1/activate", activate_body(&key, "a")).await;
    assert_eq!((status, code(body)), (403, "REVOKED".to_owned()));
    assert_eq!(code(call(&world, "/v1/validate", validate(Some("a"), "2.1")).await.1), "REVOKED");
}

#[tokio::test]
async fn heartbeat_and_deactivate_work_on_the_machines_own_lease() {
    let world = world();
    let (key, license_token) = mint(&world).await;
    let (_, body, _) = call(&world, "/v1/activate", activate_body(&key, "machine-a")).await;
    let activated = json_of(&body);
    let lease = activated["lease"].as_str().unwrap();

    let (status, body, signature) =
        call(&world, "/v1/heartbeat", json!({"lease": lease, "fingerprint": "machine-a", "nonce": "h-1"})).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(signature_verifies(&world, &signature.unwrap(), &body));
    assert_eq!(json_of(&body)["nonce"], "h-1");
    assert_eq!(json_of(&body)["activation_id"], activated["activation_id"]);

    let code = |body: Vec<u8>| json_of(&body)["code"].as_str().unwrap().to_owned();
    let (status, body, _) = call(&world, "/v1/heartbeat", json!({"lease": lease, "fingerprint": "machine-b"})).await;
    assert_eq!((status, code(body)), (403, "FINGERPRINT_MISMATCH".to_owned()));
    let (status, body, _) =
        call(&world, "/v1/heartbeat", json!({"lease": license_token, "fingerprint": "machine-a"})).await;
    assert_eq!((status, code(body)), (400, "INVALID_LEASE".to_owned()), "a license token is not a lease");
    let (status, body, _) = call(&world, "/v1/deactivate", json!({"lease": lease, "fingerprint": "machine-b"})).await;
    assert_eq!((status, code(body)), (403, "FINGERPRINT_MISMATCH".to_owned()));

    let (status, body, _) = call(&world, "/v1/deactivate", json!({"lease": lease, "fingerprint": "machine-a"})).await;
    assert_eq!((status, json_of(&body)), (200, json!({"status": "deactivated"})));
    let (status, body, _) = call(&world, "/v1/heartbeat", json!({"lease": lease, "fingerprint": "machine-a"})).await;
    assert_eq!((status, code(body)), (403, "NO_MACHINE".to_owned()));
}

#[tokio::test]
async fn bad_input_gets_a_4xx_with_a_code() {
    let world = world();
    let (key, _) = mint(&world).await;
    let cases = [
        ("/v1/activate", json!({"license_key": key, "fingerprint": ""}), 400, "INVALID_FINGERPRINT"),
        ("/v1/activate", json!({"license_key": key, "fingerprint": "x".repeat(10 * 1024)}), 400, "INVALID_FINGERPRINT"),
        ("/v1/activate", json!({"license_key": key, "fingerprint": "has space"}), 400, "INVALID_FINGERPRINT"),
        (
            "/v1/activate",
            json!({"license_key": key, "fingerprint": "a", "app_version": "latest"}),
            400,
            "INVALID_APP_VERSION",
        ),
        (
            "/v1/activate",
            json!({"license_key": key, "fingerprint": "a", "nonce": "n".repeat(500)}),
            400,
            "INVALID_NONCE",
        ),
        ("/v1/activate", json!({"license_key": "not a key!", "fingerprint": "a"}), 403, "NOT_FOUND"),
        ("/v1/activate", json!({"fingerprint": "a"}), 400, "INVALID_REQUEST"),
        ("/v1/heartbeat", json!({"lease": "garbage", "fingerprint": "a"}), 400, "INVALID_LEASE"),
        ("/v1/heartbeat", json!({"lease": "a.b.c", "fingerprint": "a"}), 400, "INVALID_LEASE"),
        ("/v1/deactivate", json!({"lease": "garbage", "fingerprint": "a"}), 400, "INVALID_LEASE"),
        ("/v1/validate", json!({"license_key": key, "fingerprint": ""}), 400, "INVALID_FINGERPRINT"),
    ];
    for (path, body, status, code) in cases {
        let (got, answer, _) = call(&world, path, body.clone()).await;
        assert_eq!((got, json_of(&answer)["code"].as_str()), (status, Some(code)), "{path} {body}");
    }
    let malformed =
        world.public.post("/v1/activate").content_type("application/json").body("{\"license_key\":").send().await;
    assert_eq!(malformed.0.status().as_u16(), 400);
    let (_, body, _) = call(&world, "/v1/validate", json!({"license_key": key})).await;
    assert_eq!(json_of(&body)["license"]["seats_used"], 0, "no bad request took a seat");
}

#[tokio::test]
async fn the_admin_sees_machines_and_frees_seats() {
    let world = world();
    let (key, _) = mint(&world).await;
    let (_, body, _) = call(&world, "/v1/activate", activate_body(&key, "machine-a")).await;
    let activation_id = json_of(&body)["activation_id"].as_str().unwrap().to_owned();
    let auth = format!("Bearer {TOKEN}");

    let shown = world.admin.get(format!("/admin/v1/licenses/{key}")).header("Authorization", &auth).send().await;
    let shown: Value = shown.0.into_body().into_json().await.unwrap();
    let machines = shown["activations"].as_array().unwrap();
    assert_eq!(machines.len(), 1);
    assert_eq!(
        (machines[0]["id"].as_str(), machines[0]["fingerprint"].as_str()),
        (Some(activation_id.as_str()), Some("machine-a"))
    );
    assert_eq!(machines[0]["app_version"], "2.0.1");

    let path = format!("/admin/v1/activations/{activation_id}/deactivate");
    assert_eq!(world.admin.post(&path).send().await.0.status().as_u16(), 401);
    let freed = world.admin.post(&path).header("Authorization", &auth).send().await;
    freed.assert_status_is_ok();
    let freed: Value = freed.0.into_body().into_json().await.unwrap();
    assert!(freed["deactivated_at"].is_string());
    let missing = world.admin.post("/admin/v1/activations/nope/deactivate").header("Authorization", &auth).send().await;
    assert_eq!(missing.0.status().as_u16(), 404);

    let shown = world.admin.get(format!("/admin/v1/licenses/{key}")).header("Authorization", &auth).send().await;
    let shown: Value = shown.0.into_body().into_json().await.unwrap();
    assert_eq!(shown["activations"], json!([]));
    let (_, body, _) = call(&world, "/v1/validate", json!({"license_key": key})).await;
    assert_eq!(json_of(&body)["license"]["seats_used"], 0);
}

#[tokio::test]
async fn cycling_machines_past_the_daily_cap_gets_429() {
    let world = world_with(ActivationPolicy { churn_per_day: 2, ..ActivationPolicy::default() });
    let (key, _) = mint(&world).await;
    for cycle in 0..2 {
        let fingerprint = format!("cycle-{cycle}");
        let (status, body, _) = call(&world, "/v1/activate", activate_body(&key, &fingerprint)).await;
        assert_eq!(status, 200);
        let lease = json_of(&body)["lease"].as_str().unwrap().to_owned();
        assert_eq!(call(&world, "/v1/deactivate", json!({"lease": lease, "fingerprint": fingerprint})).await.0, 200);
    }
    let (status, body, _) = call(&world, "/v1/activate", activate_body(&key, "cycle-2")).await;
    assert_eq!((status, json_of(&body)["code"].as_str()), (429, Some("ACTIVATION_CHURN")));
}

#[tokio::test]
async fn machines_report_usage_and_flags_that_the_operator_reviews() {
    let world = world();
    let (key, license_token) = mint(&world).await;
    let (_, body, _) = call(&world, "/v1/activate", activate_body(&key, "machine-usage")).await;
    let lease = json_of(&body)["lease"].as_str().unwrap().to_owned();
    let report = |path: &'static str, bearer: Option<String>, body: Value| {
        let mut request = world.public.post(path).body_json(&body);
        if let Some(bearer) = bearer {
            request = request.header("Authorization", format!("Bearer {bearer}"));
        }
        async move {
            let response = request.send().await;
            (response.0.status().as_u16(), response.0.into_body().into_json::<Value>().await.unwrap())
        }
    };

    let (status, recorded) =
        report("/v1/usage", Some(lease.clone()), json!({"event": "export.csv", "metadata": {"rows": 1200}})).await;
    assert_eq!(status, 202, "{recorded}");
    assert!(recorded["id"].is_string());
    let (status, flagged) = report(
        "/v1/flags",
        Some(lease.clone()),
        json!({"reason": "shared_key", "message": "seen from 3 countries today", "metadata": {"countries": 3}}),
    )
    .await;
    assert_eq!(status, 202, "{flagged}");

    // Refused: no lease, a license token instead of a lease, bad names, oversized metadata.
    for (bearer, body, expected, code) in [
        (None, json!({"event": "x"}), 401, "INVALID_LEASE"),
        (Some(license_token.clone()), json!({"event": "x"}), 401, "INVALID_LEASE"),
        (Some("not.a.token".to_owned()), json!({"event": "x"}), 401, "INVALID_LEASE"),
        (Some(lease.clone()), json!({"event": "Bad Name!"}), 400, "INVALID_REQUEST"),
        (Some(lease.clone()), json!({"event": "x", "metadata": [1, 2]}), 400, "INVALID_REQUEST"),
        (Some(lease.clone()), json!({"event": "x", "metadata": {"blob": "x".repeat(5000)}}), 400, "INVALID_REQUEST"),
        (Some(lease.clone()), json!({"event": "x", "surprise": true}), 400, "INVALID_REQUEST"),
    ] {
        let (status, body) = report("/v1/usage", bearer, body).await;
        assert_eq!((status, body["code"].as_str()), (expected, Some(code)), "{body}");
    }

    let auth = format!("Bearer {TOKEN}");
    let usage =
        world.admin.get("/admin/v1/usage").query("license_key", &key).header("Authorization", &auth).send().await;
    let usage: Value = usage.0.into_body().into_json().await.unwrap();
    assert_eq!(usage["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        (usage["items"][0]["event"].as_str(), usage["items"][0]["metadata"]["rows"].as_i64()),
        (Some("export.csv"), Some(1200))
    );

    let open = world.admin.get("/admin/v1/flags").query("status", &"open").header("Authorization", &auth).send().await;
    let open: Value = open.0.into_body().into_json().await.unwrap();
    assert_eq!(open["items"][0]["reason"], "shared_key");
    let id = open["items"][0]["id"].as_str().unwrap().to_owned();
    let review = |body: Value| {
        world.admin.post(format!("/admin/v1/flags/{id}/review")).header("Authorization", &auth).body_json(&body).send()
    };
    let missing_action = review(json!({"status": "actioned"})).await;
    assert_eq!(missing_action.0.status().as_u16(), 400);
    let done = review(json!({"status": "actioned", "action": "revoked and re-issued"})).await;
    assert_eq!(done.0.status().as_u16(), 200);
    let done: Value = done.0.into_body().into_json().await.unwrap();
    assert_eq!((done["status"].as_str(), done["action"].as_str()), (Some("actioned"), Some("revoked and re-issued")));
    let again = review(json!({"status": "dismissed"})).await;
    assert_eq!(again.0.status().as_u16(), 409);
    let unknown = world
        .admin
        .post("/admin/v1/flags/not-an-id/review")
        .header("Authorization", &auth)
        .body_json(&json!({"status": "dismissed"}))
        .send()
        .await;
    assert_eq!(unknown.0.status().as_u16(), 404);

    // A deactivated machine can no longer report.
    let (status, _, _) = call(&world, "/v1/deactivate", json!({"lease": lease, "fingerprint": "machine-usage"})).await;
    assert_eq!(status, 200);
    let (status, body) = report("/v1/usage", Some(lease), json!({"event": "x"})).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("NO_MACHINE")));
}

/// What the shell itself answers on a signed path — a request the parser
/// refuses (400), a wrong method (405), a body over 64 KiB (413) — is signed
/// like the handlers' answers, so a client can tell it from a forgery.
#[tokio::test]
async fn every_answer_of_a_signed_path_is_signed() {
    let world = world();
    let signed = |response: poem::test::TestResponse| async move {
        let status = response.0.status().as_u16();
        let header = response.0.headers().get("Tessera-Signature").map(|value| value.to_str().unwrap().to_owned());
        (status, header, response.0.into_body().into_vec().await.unwrap())
    };
    for path in ["/v1/activate", "/v1/validate", "/v1/heartbeat"] {
        let not_json = world.public.post(path).content_type("application/json").body("{not json").send().await;
        let wrong_method = world.public.get(path).send().await;
        let too_large = world
            .public
            .post(path)
            .content_type("application/json")
            .body(format!("{{\"pad\":\"{}\"}}", "x".repeat(70 * 1024)))
            .send()
            .await;
        for (expected, response) in [(400, not_json), (405, wrong_method), (413, too_large)] {
            let (status, header, body) = signed(response).await;
            assert_eq!(status, expected, "{path}: {}", String::from_utf8_lossy(&body));
            let header = header.unwrap_or_else(|| panic!("{path} {status} carries Tessera-Signature"));
            assert!(signature_verifies(&world, &header, &body), "{path} {status}");
            assert!(json_of(&body)["code"].is_string(), "{path} {status}: a JSON error body");
        }
    }
}
