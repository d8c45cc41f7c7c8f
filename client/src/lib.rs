//! `tessera-client`: what a desktop app links to use Tessera.
//!
//! - Verify license and lease tokens offline against the server's public keys
//!   (embedded in the app, or fetched once from `/.well-known/jwks.json`).
//! - Activate, heartbeat and deactivate over HTTP, checking every answer's
//!   `Tessera-Signature` and the echoed nonce.
//! - Keep the machine's lease in a cache file (written atomically, mode 0600) and
//!   answer [`Client::status`] from it without the network: active, in grace
//!   (until when), expired, or invalid with the reason.
//!
//! It pulls in neither the server, sea-orm nor poem.
//!
//! ```no_run
//! use std::time::Duration;
//! use tessera_client::{Client, ClientConfig, State};
//!
//! // In an app: include_str!("jwks.json"), saved from /.well-known/jwks.json at build time.
//! const JWKS: &str = r#"{"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "2026-11",
//!     "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "alg": "EdDSA", "use": "sig"}]}"#;
//! let config = ClientConfig::new(
//!     "https://licenses.example.com",
//!     JWKS,
//!     "/home/ada/.config/myapp/lease.json",
//!     tessera_client::machine_fingerprint("myapp"),
//! )
//! .unwrap();
//! let client = Client::new(config);
//! // Once, when the buyer enters their key:
//! client.activate("APP-PRO-7K3QX-M9P2A-R4T8W", None).unwrap();
//! // At every start: never blocks long, never fails because the server is down.
//! let status = client.refresh_if_needed(Duration::from_secs(7 * 86_400));
//! if let State::Active { .. } | State::InGrace { .. } = status.state {
//!     let features = status.entitlements.map(|e| e.features).unwrap_or_default();
//! }
//! ```

mod cache;
mod status;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ring::rand::{SecureRandom, SystemRandom};
use serde::Deserialize;
use serde_json::{json, Value};
use tessera_ring::{Jwks, TokenVerifier};
use thiserror::Error;

pub use cache::CachedLease;
pub use status::{Entitlements, LeaseClaims, LicenseClaims, State, Status};

/// The JWS `typ` of license tokens.
pub const LICENSE_TYPE: &str = "tessera-license+jwt";
/// The JWS `typ` of lease tokens.
pub const LEASE_TYPE: &str = "tessera-lease+jwt";

#[derive(Debug, Error)]
pub enum ClientError {
    /// The server could not be reached (or timed out). The app should keep
    /// running on its cached lease.
    #[error("cannot reach the license server: {0}")]
    Unreachable(String),
    /// The server answered no, with its code (`TOO_MANY_MACHINES`, `REVOKED`, …).
    #[error("{code}: {message}")]
    Refused { status: u16, code: String, message: String },
    /// An answer that does not carry a valid signature of a trusted key, or
    /// does not echo our nonce: possibly forged or replayed.
    #[error("untrusted answer from the license server: {0}")]
    Untrusted(String),
    /// A token that does not verify.
    #[error("invalid token: {0}")]
    InvalidToken(String),
    #[error("no activation on this machine (activate first)")]
    NotActivated,
    #[error("lease cache {path}: {error}")]
    Cache { path: PathBuf, error: std::io::Error },
    #[error("configuration: {0}")]
    Config(String),
}

/// How the app reaches and trusts its license server.
#[derive(Clone)]
pub struct ClientConfig {
    /// The server's public listener, e.g. `https://licenses.example.com`.
    pub server_url: String,
    /// Public keys trusted for tokens and answers.
    pub verifier: TokenVerifier,
    /// Where the lease is cached between runs.
    pub cache_path: PathBuf,
    /// This machine's fingerprint (see [`machine_fingerprint`]).
    pub fingerprint: String,
    pub app_version: Option<String>,
    /// Upper bound for any one HTTP exchange.
    pub timeout: Duration,
}

impl ClientConfig {
    /// `jwks` is the JSON of `/.well-known/jwks.json`, ideally embedded in the app
    /// at build time (`include_str!`).
    pub fn new(
        server_url: impl Into<String>,
        jwks: &str,
        cache_path: impl Into<PathBuf>,
        fingerprint: impl Into<String>,
    ) -> Result<Self, ClientError> {
        let verifier = Jwks::parse(jwks)
            .and_then(|jwks| jwks.verifier())
            .map_err(|error| ClientError::Config(error.to_string()))?;
        Ok(Self {
            server_url: server_url.into().trim_end_matches('/').to_owned(),
            verifier,
            cache_path: cache_path.into(),
            fingerprint: fingerprint.into(),
            app_version: None,
            timeout: Duration::from_secs(5),
        })
    }

    pub fn with_app_version(mut self, version: impl Into<String>) -> Self {
        self.app_version = Some(version.into());
        self
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// Downloads the server's public keys (`/.well-known/jwks.json`) for
/// [`ClientConfig::new`]. An app that must start offline embeds them instead;
/// either way, check the keys once and pin them.
pub fn fetch_jwks(server_url: &str, timeout: Duration) -> Result<String, ClientError> {
    let url = format!("{}/.well-known/jwks.json", server_url.trim_end_matches('/'));
    let response = reqwest::blocking::Client::builder()
        .timeout(timeout)
        .build()
        .and_then(|client| client.get(&url).send())
        .and_then(|response| response.error_for_status())
        .map_err(unreachable)?;
    let text = response.text().map_err(unreachable)?;
    Jwks::parse(&text).map_err(|error| ClientError::Config(error.to_string()))?;
    Ok(text)
}

/// Unix seconds now; replaceable in tests.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

fn system_clock() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|elapsed| elapsed.as_secs() as i64).unwrap_or_default()
}

/// A machine's client. Cheap to keep for the app's lifetime.
pub struct Client {
    config: ClientConfig,
    http: reqwest::blocking::Client,
    clock: Clock,
}

#[derive(Deserialize)]
struct LeaseAnswer {
    lease: String,
    nonce: Option<String>,
    #[serde(default)]
    notice: Option<String>,
}

#[derive(Deserialize)]
struct ErrorAnswer {
    code: String,
    message: String,
}

impl Client {
    pub fn new(config: ClientConfig) -> Self {
        Self::with_clock(config, Arc::new(system_clock))
    }

    pub fn with_clock(config: ClientConfig, clock: Clock) -> Self {
        let http = reqwest::blocking::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .build()
            .expect("an HTTP client with rustls");
        Self { config, http, clock }
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Verifies a license token (the buyer's `.lic`) offline, expiry included.
    pub fn verify_license(&self, token: &str) -> Result<LicenseClaims, ClientError> {
        let verified = self
            .config
            .verifier
            .verify(token.trim(), LICENSE_TYPE, (self.clock)(), true)
            .map_err(|error| ClientError::InvalidToken(error.to_string()))?;
        verified.claims_as().map_err(|error| ClientError::InvalidToken(error.to_string()))
    }

    /// Verifies a lease token's signature and type offline and that it belongs
    /// to this machine. Its expiry is judged by [`Client::status`] (grace).
    pub fn verify_lease(&self, token: &str) -> Result<LeaseClaims, ClientError> {
        let verified = self
            .config
            .verifier
            .verify(token.trim(), LEASE_TYPE, i64::MAX, false)
            .map_err(|error| ClientError::InvalidToken(error.to_string()))?;
        let claims: LeaseClaims = verified.claims_as().map_err(|error| ClientError::InvalidToken(error.to_string()))?;
        if claims.fp != self.config.fingerprint {
            return Err(ClientError::InvalidToken("the lease belongs to another machine".into()));
        }
        Ok(claims)
    }

    /// Activates this machine and caches its lease. `identity` (name, email),
    /// when given, must match the license.
    pub fn activate(&self, license_key: &str, identity: Option<(&str, &str)>) -> Result<Status, ClientError> {
        let mut body = json!({
            "license_key": license_key.trim(),
            "fingerprint": self.config.fingerprint,
            "platform": format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH),
            "app_version": self.config.app_version,
        });
        if let Some(name) = machine_name() {
            body["machine_name"] = json!(name);
        }
        if let Some((name, email)) = identity {
            body["name"] = json!(name);
            body["email"] = json!(email);
        }
        let answer = self.exchange("/v1/activate", body)?;
        self.store(license_key.trim(), answer)
    }

    /// Renews the cached lease (also an expired one) and caches the new one.
    pub fn heartbeat(&self) -> Result<Status, ClientError> {
        let cached = self.cached()?.ok_or(ClientError::NotActivated)?;
        let body = json!({
            "lease": cached.lease,
            "fingerprint": self.config.fingerprint,
            "app_version": self.config.app_version,
        });
        let answer = self.exchange("/v1/heartbeat", body)?;
        self.store(&cached.license_key, answer)
    }

    /// Frees this machine's seat and forgets the lease.
    pub fn deactivate(&self) -> Result<(), ClientError> {
        let cached = self.cached()?.ok_or(ClientError::NotActivated)?;
        let url = format!("{}/v1/deactivate", self.config.server_url);
        let body = json!({"lease": cached.lease, "fingerprint": self.config.fingerprint});
        let response = self.http.post(url).json(&body).send().map_err(unreachable)?;
        let status = response.status().as_u16();
        let bytes = response.bytes().map_err(unreachable)?;
        if status != 200 {
            return Err(refused(status, &bytes));
        }
        cache::remove(&self.config.cache_path)
    }

    /// What the cached lease allows now, without the network.
    pub fn status(&self) -> Status {
        let cached = match self.cached() {
            Ok(Some(cached)) => cached,
            Ok(None) => return Status::invalid("not activated on this machine"),
            Err(error) => return Status::invalid(&error.to_string()),
        };
        match self.verify_lease(&cached.lease) {
            Ok(claims) => Status::of(&claims, (self.clock)()).with_notice(cached.notice),
            Err(error) => Status::invalid(&error.to_string()),
        }
    }

    /// Renews the lease when it expires within `threshold` (or already did).
    /// Never fails and never waits longer than the configured timeout: when the
    /// server is unreachable the cached status stands (grace applies). When the
    /// server refuses (revoked, deactivated, …) the cache is dropped and the
    /// status says why.
    pub fn refresh_if_needed(&self, threshold: Duration) -> Status {
        let current = self.status();
        let due = match &current.state {
            State::Active { until } => *until - (self.clock)() <= threshold.as_secs() as i64,
            State::InGrace { .. } | State::Expired { .. } => true,
            State::Invalid { .. } => false,
        };
        if !due {
            return current;
        }
        match self.heartbeat() {
            Ok(status) => status,
            Err(ClientError::Refused { code, message, .. }) => {
                let _ = cache::remove(&self.config.cache_path);
                Status::invalid(&format!("{code}: {message}"))
            }
            Err(_) => current,
        }
    }

    /// The cached lease token, to authenticate the app's own calls (usage
    /// events, flags: `Authorization: Bearer <lease>`).
    pub fn lease(&self) -> Result<String, ClientError> {
        Ok(self.cached()?.ok_or(ClientError::NotActivated)?.lease)
    }

    fn cached(&self) -> Result<Option<CachedLease>, ClientError> {
        cache::read(&self.config.cache_path)
    }

    fn store(&self, license_key: &str, answer: LeaseAnswer) -> Result<Status, ClientError> {
        let claims = self.verify_lease(&answer.lease).map_err(|error| ClientError::Untrusted(error.to_string()))?;
        let cached = CachedLease { license_key: license_key.to_owned(), lease: answer.lease, notice: answer.notice };
        cache::write(&self.config.cache_path, &cached)?;
        Ok(Status::of(&claims, (self.clock)()).with_notice(cached.notice))
    }

    /// POSTs `body` with a fresh nonce; checks the answer's signature and nonce.
    fn exchange(&self, path: &str, mut body: Value) -> Result<LeaseAnswer, ClientError> {
        let nonce = new_nonce();
        body["nonce"] = json!(nonce);
        let url = format!("{}{path}", self.config.server_url);
        let response = self.http.post(url).json(&body).send().map_err(unreachable)?;
        let status = response.status().as_u16();
        let signature =
            response.headers().get("Tessera-Signature").and_then(|value| value.to_str().ok()).map(str::to_owned);
        let bytes = response.bytes().map_err(unreachable)?;
        let signature = signature.ok_or_else(|| ClientError::Untrusted("no Tessera-Signature".into()))?;
        check_signature(&self.config.verifier, &signature, &bytes)?;
        if status != 200 {
            return Err(refused(status, &bytes));
        }
        let answer: LeaseAnswer =
            serde_json::from_slice(&bytes).map_err(|error| ClientError::Untrusted(error.to_string()))?;
        if answer.nonce.as_deref() != Some(nonce.as_str()) {
            return Err(ClientError::Untrusted("the answer does not echo our nonce (replayed?)".into()));
        }
        Ok(answer)
    }
}

fn unreachable(error: reqwest::Error) -> ClientError {
    ClientError::Unreachable(error.to_string())
}

fn refused(status: u16, body: &[u8]) -> ClientError {
    match serde_json::from_slice::<ErrorAnswer>(body) {
        Ok(error) => ClientError::Refused { status, code: error.code, message: error.message },
        Err(_) => ClientError::Refused {
            status,
            code: "UNEXPECTED".into(),
            message: String::from_utf8_lossy(body).chars().take(200).collect(),
        },
    }
}

fn new_nonce() -> String {
    let mut bytes = [0u8; 16];
    SystemRandom::new().fill(&mut bytes).expect("system randomness");
    tessera_ring::b64url(&bytes)
}

/// Checks `Tessera-Signature: kid="…", alg="EdDSA", sig="…"` over the exact `body`.
pub fn check_signature(verifier: &TokenVerifier, header: &str, body: &[u8]) -> Result<(), ClientError> {
    let field = |name: &str| {
        header.split(',').map(str::trim).find_map(|part| {
            let (key, value) = part.split_once('=')?;
            (key.trim() == name).then(|| value.trim().trim_matches('"').to_owned())
        })
    };
    let (Some(kid), Some(alg), Some(sig)) = (field("kid"), field("alg"), field("sig")) else {
        return Err(ClientError::Untrusted(format!("malformed Tessera-Signature `{header}`")));
    };
    if alg != "EdDSA" {
        return Err(ClientError::Untrusted(format!("unsupported signature algorithm `{alg}`")));
    }
    verifier.verify_detached(&kid, body, &sig).map_err(|error| ClientError::Untrusted(error.to_string()))
}

/// This machine's host name, as the buyer knows it (shown in the portal).
pub fn machine_name() -> Option<String> {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|name| name.trim().chars().take(100).collect::<String>())
        .filter(|name| !name.is_empty())
}

/// A stable fingerprint of this machine for `app`: SHA-256 of the OS machine id
/// (`/etc/machine-id` on Linux), else of the host name, hex-encoded.
pub fn machine_fingerprint(app: &str) -> String {
    let machine = ["/etc/machine-id", "/var/lib/dbus/machine-id"]
        .iter()
        .find_map(|path| std::fs::read_to_string(path).ok().filter(|id| !id.trim().is_empty()))
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default();
    let digest = ring::digest::digest(&ring::digest::SHA256, format!("tessera:{app}:{}", machine.trim()).as_bytes());
    digest.as_ref().iter().map(|byte| format!("{byte:02x}")).collect()
}
