//! Releases through the HTTP shell: the operator creates, uploads (streamed,
//! hashed, signed), publishes and yanks; buyers' apps ask for the newest
//! release, follow a signed link with `Range`, and read the Tauri and
//! Sparkle feeds — each refused as its license's state says.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use poem::endpoint::BoxEndpoint;
use poem::test::{TestClient, TestResponse};
use poem::{EndpointExt, Response};
use ring::signature::{UnparsedPublicKey, ED25519};
use serde_json::{json, Value};
use tessera_domain::audit::{AuditFilter, AuditLog};
use tessera_domain::catalog::{Catalog, Downloads, Product, Tier};
use tessera_memory::{InMemoryArtifactStore, InMemoryStore, ManualClock};
use tessera_ring::{generate_private_key_pem, Keyring, SigningKey};
use tessera_server::http::{admin_app, public_app};
use tessera_server::state::{AppState, ReleaseSettings, UploadLimits};
use time::macros::datetime;
use time::Duration;

const TOKEN: &str = "test-admin-token-that-is-long-enough";
const TAURI_SIG: &str = "dW50cnVzdGVkIGNvbW1lbnQ6IHNpZ25hdHVyZSBmcm9tIHRhdXJpIHNlY3JldCBrZXkK";

type Client = TestClient<BoxEndpoint<'static, Response>>;

/// A refused request for a download link, kept to read its code.
struct Refused(TestResponse);

impl std::fmt::Debug for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "refused with {}", self.0 .0.status())
    }
}

struct World {
    store: Arc<InMemoryStore>,
    files: Arc<InMemoryArtifactStore>,
    clock: Arc<ManualClock>,
    keyring: Arc<Keyring>,
    admin: Client,
    public: Client,
    staging: tempfile::TempDir,
}

fn catalog() -> Catalog {
    let tier = |slug: &str, duration_days, downloads| {
        (
            slug.to_owned(),
            Tier {
                name: None,
                slug: slug.into(),
                features: vec![],
                seats: 2,
                duration_days,
                app_versions: None,
                downloads,
            },
        )
    };
    let fallback = Downloads { channels: None, perpetual_fallback: true };
    Catalog::new(vec![Product {
        slug: "app".into(),
        name: "Pixel App".into(),
        key_prefix: "APP".into(),
        renew_url: None,
        tiers: BTreeMap::from([
            tier("pro", None, Downloads::default()),
            tier("year", Some(365), fallback),
            tier("month", Some(30), Downloads::default()),
        ]),
    }])
    .unwrap()
}

fn world_with_limit(max_bytes: u64) -> World {
    let store = Arc::new(InMemoryStore::new());
    let files = Arc::new(InMemoryArtifactStore::new());
    let staging = tempfile::tempdir().unwrap();
    let key = SigningKey::from_pem("k1", &generate_private_key_pem(None).unwrap()).unwrap();
    let keyring = Arc::new(Keyring::new(key, vec![]).unwrap());
    let clock = Arc::new(ManualClock::at(datetime!(2026-11-23 12:00 UTC)));
    let mailer = Arc::new(tessera_memory::InMemoryMailer::new());
    let mut settings = support::settings(keyring.clone(), clock.clone(), catalog(), vec![], mailer, TOKEN);
    settings.releases = ReleaseSettings {
        artifacts: files.clone(),
        uploads: UploadLimits { staging_dir: staging.path().to_owned(), max_bytes },
        links: Default::default(),
    };
    let state = AppState::new(store.clone(), settings);
    World {
        store,
        files,
        clock,
        keyring,
        admin: TestClient::new(admin_app(state.clone()).boxed()),
        public: TestClient::new(public_app(state).boxed()),
        staging,
    }
}

fn world() -> World {
    world_with_limit(16 * 1024 * 1024)
}

async fn json_of(response: TestResponse) -> Value {
    response.0.into_body().into_json().await.unwrap()
}

async fn code_of(response: TestResponse, status: u16) -> String {
    assert_eq!(response.0.status().as_u16(), status, "expected {status}");
    json_of(response).await["code"].as_str().unwrap().to_owned()
}

/// Bytes that stand for an installer.
fn installer(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

impl World {
    fn bearer(&self) -> String {
        format!("Bearer {TOKEN}")
    }

    async fn create(&self, version: &str) -> String {
        let response = self
            .admin
            .post("/admin/v1/releases")
            .header("Authorization", self.bearer())
            .body_json(&json!({"product": "app", "version": version, "notes": "Faster & <safer>"}))
            .send()
            .await;
        response.assert_status(poem::http::StatusCode::CREATED);
        json_of(response).await["id"].as_str().unwrap().to_owned()
    }

    async fn upload(&self, release: &str, name: &str, bytes: Vec<u8>) -> TestResponse {
        self.admin
            .put(format!("/admin/v1/releases/{release}/artifacts/{}", name.replace(' ', "%20")))
            .query("platform", &"macos")
            .query("arch", &"universal")
            .query("updater_signature", &TAURI_SIG)
            .header("Authorization", self.bearer())
            .content_type("application/octet-stream")
            .body(bytes)
            .send()
            .await
    }

    async fn publish(&self, release: &str) -> TestResponse {
        self.admin
            .post(format!("/admin/v1/releases/{release}/publish"))
            .header("Authorization", self.bearer())
            .send()
            .await
    }

    /// Creates, fills and publishes `version` with one macOS file; its artifact.
    async fn published(&self, version: &str, bytes: Vec<u8>) -> Value {
        let release = self.create(version).await;
        let uploaded = self.upload(&release, &format!("Pixel App {version}.dmg"), bytes).await;
        uploaded.assert_status(poem::http::StatusCode::CREATED);
        let artifact = json_of(uploaded).await;
        self.publish(&release).await.assert_status_is_ok();
        artifact
    }

    /// A minted license's key and token.
    async fn license(&self, tier: &str) -> (String, String) {
        let response = self
            .admin
            .post("/admin/v1/licenses")
            .header("Authorization", self.bearer())
            .body_json(&json!({"product": "app", "tier": tier, "name": "Ada Lovelace", "email": "ada@example.com"}))
            .send()
            .await;
        let body = json_of(response).await;
        (body["license"]["key"].as_str().unwrap().to_owned(), body["token"].as_str().unwrap().to_owned())
    }

    async fn latest(&self, credential: &str) -> TestResponse {
        self.public
            .get("/v1/releases/latest")
            .query("product", &"app")
            .query("platform", &"macos")
            .query("arch", &"aarch64")
            .header("Authorization", format!("Bearer {credential}"))
            .send()
            .await
    }

    /// `GET /v1/artifacts/{id}`'s `Location`, as a path and query on the public listener.
    async fn link(&self, credential: &str, artifact_id: &str) -> Result<String, Refused> {
        let response = self
            .public
            .get(format!("/v1/artifacts/{artifact_id}"))
            .header("Authorization", format!("Bearer {credential}"))
            .send()
            .await;
        if response.0.status() != poem::http::StatusCode::FOUND {
            return Err(Refused(response));
        }
        let location = response.0.headers()["location"].to_str().unwrap().to_owned();
        Ok(location.strip_prefix("http://127.0.0.1:8080").expect("the public base URL").to_owned())
    }

    async fn fetch(&self, path_and_query: &str, range: Option<&str>) -> TestResponse {
        let mut request = self.public.get(path_and_query);
        if let Some(range) = range {
            request = request.header("Range", range);
        }
        request.send().await
    }

    async fn downloads_of(&self, artifact_id: &str) -> u64 {
        let id = artifact_id.parse().unwrap();
        tessera_domain::release::ReleaseRepository::find_artifact(self.store.as_ref(), id)
            .await
            .unwrap()
            .unwrap()
            .downloads
    }
}

#[tokio::test]
async fn an_uploaded_file_is_hashed_signed_published_and_downloaded_whole_or_in_ranges() {
    let world = world();
    let bytes = installer(300_000, 7);
    let artifact = world.published("1.2.0", bytes.clone()).await;
    assert_eq!(artifact["size"], 300_000);
    assert_eq!(artifact["sha256"], sha256_hex(&bytes));
    assert_eq!(artifact["content_type"], "application/x-apple-diskimage");
    assert_eq!(artifact["updater_signature"], TAURI_SIG);
    let signature = STANDARD.decode(artifact["signature"].as_str().unwrap()).unwrap();
    UnparsedPublicKey::new(&ED25519, world.keyring.active().public_key())
        .verify(&bytes, &signature)
        .expect("the recorded signature is Tessera's key over the file's bytes");
    assert_eq!(world.files.keys().len(), 1);
    assert_eq!(std::fs::read_dir(world.staging.path()).unwrap().count(), 0, "nothing left staged");

    let (key, token) = world.license("pro").await;
    let offer = world.latest(&token).await;
    offer.assert_status_is_ok();
    let offer = json_of(offer).await;
    assert_eq!((offer["version"].as_str(), offer["notes"].as_str()), (Some("1.2.0"), Some("Faster & <safer>")));
    let id = offer["artifacts"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(offer["artifacts"][0]["url"], format!("http://127.0.0.1:8080/v1/artifacts/{id}"));
    assert_eq!(json_of(world.latest(&key).await).await["version"], "1.2.0", "the key itself is a credential too");

    let link = world.link(&token, &id).await.unwrap();
    assert!(link.starts_with(&format!("/v1/downloads/{id}/Pixel%20App%201.2.0.dmg?token=")), "{link}");
    let whole = world.fetch(&link, None).await;
    whole.assert_status_is_ok();
    whole.assert_header("Content-Type", "application/x-apple-diskimage");
    whole.assert_header("Accept-Ranges", "bytes");
    whole.assert_header("ETag", format!("\"{}\"", sha256_hex(&bytes)));
    let disposition = whole.0.headers()["content-disposition"].to_str().unwrap().to_owned();
    assert!(disposition.starts_with("attachment; filename=\"Pixel App 1.2.0.dmg\""), "{disposition}");
    assert_eq!(whole.0.into_body().into_vec().await.unwrap(), bytes);

    let resumed = world.fetch(&link, Some("bytes=100000-")).await;
    resumed.assert_status(poem::http::StatusCode::PARTIAL_CONTENT);
    resumed.assert_header("Content-Range", "bytes 100000-299999/300000");
    assert_eq!(resumed.0.into_body().into_vec().await.unwrap(), bytes[100_000..]);
    let suffix = world.fetch(&link, Some("bytes=-10")).await;
    assert_eq!(suffix.0.into_body().into_vec().await.unwrap(), bytes[299_990..]);
    let past = world.fetch(&link, Some("bytes=300000-")).await;
    past.assert_status(poem::http::StatusCode::RANGE_NOT_SATISFIABLE);
    past.assert_header("Content-Range", "bytes */300000");
    let cached = world.public.get(&link).header("If-None-Match", format!("\"{}\"", sha256_hex(&bytes))).send().await;
    cached.assert_status(poem::http::StatusCode::NOT_MODIFIED);

    assert_eq!(world.downloads_of(&id).await, 1, "one download from the first byte; resumes are not counted");
    let filter = AuditFilter { action: Some("artifact.downloaded".into()), ..Default::default() };
    let audit = world.store.list_audit(&filter, &tessera_domain::page::PageRequest::first(10)).await.unwrap().items;
    assert_eq!(audit.len(), 1);
    assert_eq!((audit[0].actor.to_string(), audit[0].entity_id.clone()), ("buyer".to_owned(), key));
}

#[tokio::test]
async fn links_expire_cannot_be_altered_and_stop_at_a_yank_or_a_revoke() {
    let world = world();
    let artifact = world.published("1.0.0", installer(1000, 1)).await;
    let id = artifact["id"].as_str().unwrap();
    let (key, token) = world.license("pro").await;

    let link = world.link(&token, id).await.unwrap();
    let altered = link.replacen("token=ey", "token=eX", 1);
    assert_eq!(code_of(world.fetch(&altered, None).await, 403).await, "UNAUTHORIZED");
    let other_file =
        link.replacen(&format!("/v1/downloads/{id}/"), "/v1/downloads/0190f1c4-0000-7000-8000-000000000000/", 1);
    assert_eq!(code_of(world.fetch(&other_file, None).await, 403).await, "UNAUTHORIZED", "a link names its file");
    let no_token = link.split('?').next().unwrap().to_owned();
    assert_eq!(code_of(world.fetch(&no_token, None).await, 403).await, "UNAUTHORIZED");
    world.clock.advance(Duration::minutes(11));
    assert_eq!(code_of(world.fetch(&link, None).await, 410).await, "EXPIRED", "links last minutes");

    let fresh = world.link(&key, id).await.unwrap();
    world.fetch(&fresh, None).await.assert_status_is_ok();
    let release = artifact_release(&world, id).await;
    world
        .admin
        .post(format!("/admin/v1/releases/{release}/yank"))
        .header("Authorization", world.bearer())
        .send()
        .await
        .assert_status_is_ok();
    assert_eq!(code_of(world.fetch(&fresh, None).await, 410).await, "NOT_FOUND", "a yanked file is gone");
    assert_eq!(code_of(world.latest(&token).await, 404).await, "NOT_FOUND", "and out of every offer");

    let again = world.published("1.0.1", installer(1000, 2)).await;
    let link = world.link(&token, again["id"].as_str().unwrap()).await.unwrap();
    world
        .admin
        .post(format!("/admin/v1/licenses/{key}/revoke"))
        .header("Authorization", world.bearer())
        .body_json(&json!({"reason": "chargeback"}))
        .send()
        .await
        .assert_status_is_ok();
    assert_eq!(code_of(world.fetch(&link, None).await, 403).await, "REVOKED", "a link made before the revoke");
    assert_eq!(code_of(world.latest(&token).await, 403).await, "REVOKED");
    let refused = world.link(&token, again["id"].as_str().unwrap()).await.unwrap_err();
    assert_eq!(code_of(refused.0, 403).await, "REVOKED");
}

async fn artifact_release(world: &World, artifact_id: &str) -> String {
    let listed = world.admin.get("/admin/v1/releases").header("Authorization", world.bearer()).send().await;
    let listed = json_of(listed).await;
    let release = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|release| release["artifacts"].as_array().unwrap().iter().any(|file| file["id"] == artifact_id))
        .expect("listed");
    release["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn an_expired_license_with_perpetual_fallback_keeps_the_versions_of_its_term() {
    let world = world();
    let (_, token) = world.license("year").await;
    let (_, monthly) = world.license("month").await;
    let old = world.published("1.0.0", installer(500, 3)).await;
    world.clock.advance(Duration::days(400));
    let new = world.published("2.0.0", installer(500, 4)).await;

    let offer = json_of(world.latest(&token).await).await;
    assert_eq!(offer["version"], "1.0.0", "the newest release published before it expired");
    assert!(world.link(&token, old["id"].as_str().unwrap()).await.is_ok());
    let refused = world.link(&token, new["id"].as_str().unwrap()).await.unwrap_err();
    assert_eq!(code_of(refused.0, 403).await, "EXPIRED", "newer versions are paid for");
    assert_eq!(code_of(world.latest(&monthly).await, 403).await, "EXPIRED", "no fallback: nothing");

    // The same rule in /v1/validate: the app version the buyer kept still runs.
    let validate = |license: &str, version: &str| {
        let body = json!({"license_key": license_key_of(license), "app_version": version});
        world.public.post("/v1/validate").body_json(&body).send()
    };
    let kept = json_of(validate(&token, "1.0.0").await).await;
    assert_eq!((kept["valid"].as_bool(), kept["code"].as_str()), (Some(true), Some("VALID")), "{kept}");
    assert_eq!(json_of(validate(&token, "0.9.0").await).await["code"], "VALID", "older than what it kept");
    assert_eq!(json_of(validate(&token, "2.0.0").await).await["code"], "EXPIRED", "newer than what it kept");
    assert_eq!(json_of(validate(&token, "1.0").await).await["code"], "EXPIRED", "not a semantic version");
    assert_eq!(json_of(validate(&monthly, "1.0.0").await).await["code"], "EXPIRED", "no fallback");
}

/// The `sub` of a license token: its key.
fn license_key_of(token: &str) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims["sub"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_tauri_feed_offers_a_newer_release_or_204() {
    let world = world();
    world.published("1.1.0", installer(800, 5)).await;
    let (key, _) = world.license("pro").await;
    let feed = |current: &'static str| {
        world.public.get(format!("/v1/updates/tauri/app/darwin/aarch64/{current}")).query("license_key", &key).send()
    };
    let update = feed("1.0.0").await;
    update.assert_status_is_ok();
    let update = json_of(update).await;
    assert_eq!(update["version"], "1.1.0");
    assert_eq!(update["signature"], TAURI_SIG, "the operator's updater signature, as uploaded");
    // What tauri-plugin-updater reads: a semver `version` (a leading `v` allowed), an RFC 3339
    // `pub_date`, a URL and the signature as text.
    let published = update["pub_date"].as_str().unwrap();
    let parsed = time::OffsetDateTime::parse(published, &time::format_description::well_known::Rfc3339).unwrap();
    assert_eq!(parsed, datetime!(2026-11-23 12:00 UTC), "{update}");
    assert!(tessera_domain::release::Version::parse(update["version"].as_str().unwrap()).is_ok());
    assert!(update["url"].as_str().unwrap().starts_with("http://127.0.0.1:8080/v1/downloads/"));
    let url = update["url"].as_str().unwrap().strip_prefix("http://127.0.0.1:8080").unwrap().to_owned();
    assert_eq!(world.fetch(&url, None).await.0.into_body().into_vec().await.unwrap(), installer(800, 5));
    feed("1.1.0").await.assert_status(poem::http::StatusCode::NO_CONTENT);
    feed("v2.0.0").await.assert_status(poem::http::StatusCode::NO_CONTENT);
    assert_eq!(code_of(feed("latest").await, 400).await, "INVALID_APP_VERSION");
    let anonymous = world.public.get("/v1/updates/tauri/app/darwin/aarch64/1.0.0").send().await;
    assert_eq!(code_of(anonymous, 401).await, "UNAUTHORIZED");
    let windows = world.public.get("/v1/updates/tauri/app/windows/x86_64/1.0.0").query("license_key", &key).send();
    windows.await.assert_status(poem::http::StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn the_sparkle_appcast_lists_each_usable_release_with_its_ed_signature() {
    let world = world();
    let first = world.published("1.0.0", installer(600, 8)).await;
    let second = world.published("1.1.0", installer(700, 9)).await;
    let (key, _) = world.license("pro").await;
    let response = world.public.get("/v1/updates/sparkle/app/appcast.xml").query("license_key", &key).send().await;
    response.assert_status_is_ok();
    response.assert_content_type("application/rss+xml; charset=utf-8");
    let xml = response.0.into_body().into_string().await.unwrap();
    let newest = xml.find("<sparkle:version>1.1.0</sparkle:version>").expect("1.1.0 listed");
    let oldest = xml.find("<sparkle:version>1.0.0</sparkle:version>").expect("1.0.0 listed");
    assert!(newest < oldest, "newest first");
    for artifact in [&first, &second] {
        let signature = format!("sparkle:edSignature=\"{}\"", artifact["signature"].as_str().unwrap());
        assert!(xml.contains(&signature), "{xml}");
        assert!(xml.contains(&format!("length=\"{}\"", artifact["size"])), "{xml}");
    }
    assert!(xml.contains("<description>Faster &amp; &lt;safer&gt;</description>"), "notes are escaped: {xml}");
    assert!(xml.contains(&format!("/v1/downloads/{}/Pixel%20App%201.1.0.dmg?token=", second["id"].as_str().unwrap())));
}

#[tokio::test]
async fn uploads_are_refused_whole_before_or_while_they_stream() {
    let world = world_with_limit(1000);
    let release = world.create("3.0.0").await;
    assert_eq!(code_of(world.upload(&release, ".hidden", vec![1]).await, 400).await, "INVALID_REQUEST");
    let unknown = "0190f1c4-0000-7000-8000-000000000000";
    assert_eq!(code_of(world.upload(unknown, "a.zip", vec![1]).await, 404).await, "NOT_FOUND");
    assert_eq!(code_of(world.upload(&release, "big.zip", installer(1001, 0)).await, 413).await, "PAYLOAD_TOO_LARGE");
    assert!(world.files.keys().is_empty(), "nothing stored");
    assert_eq!(std::fs::read_dir(world.staging.path()).unwrap().count(), 0, "nothing left staged");
    assert_eq!(code_of(world.publish(&release).await, 409).await, "INVALID_TRANSITION", "no files yet");

    world.upload(&release, "a.zip", installer(1000, 0)).await.assert_status(poem::http::StatusCode::CREATED);
    world.upload(&release, "a.zip", installer(900, 1)).await.assert_status(poem::http::StatusCode::CREATED);
    assert_eq!(world.files.keys().len(), 1, "a re-upload replaces the file");
    world.publish(&release).await.assert_status_is_ok();
    assert_eq!(code_of(world.upload(&release, "b.zip", vec![1]).await, 409).await, "INVALID_TRANSITION");
    let taken = world
        .admin
        .post("/admin/v1/releases")
        .header("Authorization", world.bearer())
        .body_json(&json!({"product": "app", "version": "v3.0.0"}))
        .send()
        .await;
    assert_eq!(code_of(taken, 409).await, "INVALID_TRANSITION");
    let unknown_product = world
        .admin
        .post("/admin/v1/releases")
        .header("Authorization", world.bearer())
        .body_json(&json!({"product": "nope", "version": "1.0.0"}))
        .send()
        .await;
    assert_eq!(code_of(unknown_product, 400).await, "UNKNOWN_PRODUCT");
    let listed =
        world.admin.get("/admin/v1/releases").query("status", &"published").header("Authorization", world.bearer());
    let listed = json_of(listed.send().await).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert_eq!(listed["items"][0]["artifacts"][0]["size"], 900);
}
