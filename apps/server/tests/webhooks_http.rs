//! `POST /webhooks/gumroad` through TestClient: the documented sale, retries,
//! wrong secrets, a database outage, and the admin's view of the event log.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use poem::endpoint::BoxEndpoint;
use poem::test::TestClient;
use poem::{EndpointExt, Response};
use serde_json::Value;
use tessera_domain::catalog::{Catalog, Product, Tier};
use tessera_domain::storefront::{ConfiguredStorefront, ProductMapping, RefundPolicy};
use tessera_gumroad::GumroadStorefront;
use tessera_memory::{InMemoryStore, ManualClock};
use tessera_ring::{generate_private_key_pem, Keyring, SigningKey};
use tessera_server::http::{admin_app, public_app};
use tessera_server::state::AppState;
use time::macros::datetime;

const TOKEN: &str = "test-admin-token-that-is-long-enough";
const SECRET: &str = "gumroad-post-url-secret";

struct World {
    store: Arc<InMemoryStore>,
    clock: Arc<ManualClock>,
    public: TestClient<BoxEndpoint<'static, Response>>,
    admin: TestClient<BoxEndpoint<'static, Response>>,
}

fn world(mapped: bool) -> World {
    let tier = |slug: &str| {
        (
            slug.to_owned(),
            Tier {
                name: None,
                slug: slug.into(),
                features: vec![],
                seats: 2,
                duration_days: None,
                app_versions: None,
                downloads: Default::default(),
            },
        )
    };
    let catalog = Catalog::new(vec![Product {
        slug: "pencil".into(),
        name: "Pencil".into(),
        key_prefix: "PEN".into(),
        renew_url: None,
        tiers: BTreeMap::from([tier("basic"), tier("pro")]),
    }])
    .unwrap();
    let mapping = ProductMapping { product: "pencil".into(), tier: "basic".into(), variant_tiers: BTreeMap::new() };
    let gumroad = ConfiguredStorefront {
        adapter: Arc::new(GumroadStorefront::new(SECRET, None)),
        on_refund: RefundPolicy::Revoke,
        products: if mapped {
            BTreeMap::from([("32-nPAicqbLj8B_WswVlMw==".to_owned(), mapping)])
        } else {
            BTreeMap::new()
        },
    };
    let key = SigningKey::from_pem("k1", &generate_private_key_pem(None).unwrap()).unwrap();
    let mailer = Arc::new(tessera_memory::InMemoryMailer::new());
    let store = Arc::new(InMemoryStore::new());
    let clock = Arc::new(ManualClock::at(datetime!(2026-11-23 12:00 UTC)));
    let state = AppState::new(
        store.clone(),
        support::settings(
            Arc::new(Keyring::new(key, vec![]).unwrap()),
            clock.clone(),
            catalog,
            vec![gumroad],
            mailer,
            TOKEN,
        ),
    );
    World {
        store,
        clock,
        public: TestClient::new(public_app(state.clone()).boxed()),
        admin: TestClient::new(admin_app(state).boxed()),
    }
}

/// The documented sale ping, form-encoded as Gumroad sends it.
fn sale_body() -> String {
    ping_with(&[])
}

/// The documented sale ping with some fields replaced or added.
fn ping_with(changes: &[(&str, &str)]) -> String {
    let mut form = form_urlencoded::Serializer::new(String::new());
    for line in include_str!("../../../adapters/gumroad/tests/fixtures/sale-ping.txt").lines() {
        if let Some((key, value)) = line.split_once('=').filter(|_| !line.starts_with('#')) {
            let changed = changes.iter().find(|(name, _)| *name == key).map_or(value, |(_, value)| *value);
            form.append_pair(key, changed);
        }
    }
    for (key, value) in changes {
        if !include_str!("../../../adapters/gumroad/tests/fixtures/sale-ping.txt").contains(&format!("\n{key}=")) {
            form.append_pair(key, value);
        }
    }
    form.finish()
}

async fn deliver(world: &World, secret: &str, body: String) -> (u16, Value) {
    let response = world
        .public
        .post(format!("/webhooks/gumroad?secret={secret}"))
        .content_type("application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await;
    let status = response.0.status().as_u16();
    (status, response.0.into_body().into_json().await.unwrap_or(Value::Null))
}

async fn admin_get(world: &World, path: &str) -> Value {
    let response = world.admin.get(path).header("Authorization", format!("Bearer {TOKEN}")).send().await;
    assert_eq!(response.0.status().as_u16(), 200, "{path}");
    response.0.into_body().into_json().await.unwrap()
}

#[tokio::test]
async fn the_documented_sale_mints_once_however_often_it_arrives() {
    let world = world(true);
    let (status, first) = deliver(&world, SECRET, sale_body()).await;
    assert_eq!((status, first["status"].as_str()), (200, Some("processed")));
    let key = first["license_key"].as_str().unwrap().to_owned();
    let retry = format!("{}&retry_count=1", sale_body());
    let (status, again) = deliver(&world, SECRET, retry).await;
    assert_eq!(
        (status, again["status"].as_str(), again["license_key"].as_str()),
        (200, Some("duplicate"), Some(key.as_str()))
    );

    let licenses = admin_get(&world, "/admin/v1/licenses?source=gumroad").await;
    assert_eq!(licenses["items"].as_array().unwrap().len(), 1);
    let events = admin_get(&world, "/admin/v1/storefront-events").await;
    assert_eq!(events["items"].as_array().unwrap().len(), 2);
    assert_eq!(events["items"][0]["kind"], "sale");
    let trail = admin_get(&world, "/admin/v1/audit?entity_type=storefront_event").await;
    let mut processed: Vec<(&str, &str)> = trail["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| (event["actor"].as_str().unwrap(), event["details"]["status"].as_str().unwrap()))
        .collect();
    processed.sort();
    assert_eq!(processed, [("storefront:gumroad", "duplicate"), ("storefront:gumroad", "processed")]);
}

#[tokio::test]
async fn a_wrong_secret_is_401_and_records_nothing() {
    let world = world(true);
    let (status, body) = deliver(&world, "wrong-secret", sale_body()).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("UNAUTHORIZED")));
    let events = admin_get(&world, "/admin/v1/storefront-events").await;
    assert_eq!(events["items"], serde_json::json!([]));
    let (status, _) = deliver(&world, SECRET, "not a form at all".into()).await;
    assert_eq!(status, 200, "authenticated junk is recorded as a failed event");
    let failed = admin_get(&world, "/admin/v1/storefront-events?status=failed").await;
    assert_eq!(failed["items"].as_array().unwrap().len(), 1);
    let unknown = world.public.post("/webhooks/shopify?secret=x").body("a=b").send().await;
    assert_eq!(unknown.0.status().as_u16(), 404);
}

#[tokio::test]
async fn a_database_outage_answers_503_so_gumroad_retries() {
    let world = world(true);
    world.store.set_unavailable(true);
    let (status, body) = deliver(&world, SECRET, sale_body()).await;
    assert_eq!((status, body["code"].as_str()), (503, Some("UNAVAILABLE")));
    world.store.set_unavailable(false);
    let (status, body) = deliver(&world, SECRET, sale_body()).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("processed")), "processed once, after recovery");
}

#[tokio::test]
async fn the_operator_replays_a_failed_event() {
    let world = world(false);
    let (_, receipt) = deliver(&world, SECRET, sale_body()).await;
    assert_eq!(receipt["status"], "failed");
    let id = receipt["event_id"].as_str().unwrap();
    let failed = admin_get(&world, "/admin/v1/storefront-events?status=failed").await;
    assert!(failed["items"][0]["error"].as_str().unwrap().contains("no product mapping"));
    assert!(failed["items"][0]["body"].as_str().unwrap().contains("sale_id="), "the body as received");

    let replay = world
        .admin
        .post(format!("/admin/v1/storefront-events/{id}/replay"))
        .header("Authorization", format!("Bearer {TOKEN}"))
        .send()
        .await;
    assert_eq!(replay.0.status().as_u16(), 200);
    let replayed: Value = replay.0.into_body().into_json().await.unwrap();
    assert_eq!(
        (replayed["status"].as_str(), replayed["attempts"].as_u64()),
        (Some("failed"), Some(2)),
        "still unmapped here"
    );
    let missing = world
        .admin
        .post("/admin/v1/storefront-events/00000000-0000-0000-0000-000000000000/replay")
        .header("Authorization", format!("Bearer {TOKEN}"))
        .send()
        .await;
    assert_eq!(missing.0.status().as_u16(), 404);
}

#[tokio::test]
async fn a_refund_revokes_and_a_recurring_charge_extends() {
    let world = world(true);
    let subscription =
        [("subscription_id", "sub-42"), ("recurrence", "monthly"), ("sale_timestamp", "2026-11-23T12:00:00Z")];
    let (_, sold) = deliver(&world, SECRET, ping_with(&subscription)).await;
    assert_eq!(sold["status"], "processed", "{sold}");
    let key = sold["license_key"].as_str().unwrap().to_owned();
    let license = admin_get(&world, &format!("/admin/v1/licenses/{key}")).await;
    assert_eq!(
        (license["kind"].as_str(), license["expires_at"].as_str()),
        (Some("subscription"), Some("2026-12-24T12:00:00Z"))
    );
    assert_eq!(license["subscription"], serde_json::json!({"id": "sub-42", "renewing": true}));

    world.clock.set(datetime!(2026-12-23 12:00 UTC));
    let charge = [
        ("subscription_id", "sub-42"),
        ("recurrence", "monthly"),
        ("sale_id", "charge-2"),
        ("sale_timestamp", "2026-12-23T12:00:00Z"),
        ("is_recurring_charge", "true"),
    ];
    let (_, charged) = deliver(&world, SECRET, ping_with(&charge)).await;
    assert_eq!((charged["status"].as_str(), charged["license_key"].as_str()), (Some("processed"), Some(key.as_str())));
    let (_, again) = deliver(&world, SECRET, format!("{}&retry_count=1", ping_with(&charge))).await;
    assert_eq!(again["status"], "duplicate", "one charge extends once");
    let extended = admin_get(&world, &format!("/admin/v1/licenses/{key}")).await;
    assert_eq!(extended["expires_at"], "2027-01-23T12:00:00Z");
    assert_eq!(admin_get(&world, "/admin/v1/licenses?source=gumroad").await["items"].as_array().unwrap().len(), 1);

    let refund = [("refunded", "true"), ("resource_name", "refund")];
    let (_, refunded) = deliver(&world, SECRET, ping_with(&refund)).await;
    assert_eq!(refunded["status"], "processed", "{refunded}");
    let revoked = admin_get(&world, &format!("/admin/v1/licenses/{key}")).await;
    assert_eq!(
        (revoked["status"].as_str(), revoked["revoke_reason"].as_str()),
        (Some("revoked"), Some("refunded on gumroad"))
    );
}
