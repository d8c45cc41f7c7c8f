//! Configuration, contract §2. Layers, later wins: built-in defaults →
//! `tessera.toml` (or `--config FILE` / `TESSERA_CONFIG`) → `TESSERA_…`
//! environment variables with `__` for nesting. Unknown keys are errors.
//! Every secret `x` may instead be given as `x_file`; giving both is an error.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use serde::Deserialize;
use tessera_domain::activation::ActivationPolicy;
use tessera_domain::storefront::StorefrontSettings;
use thiserror::Error;

/// Environment variables with the `TESSERA_` prefix that belong to other
/// programs or to the config loader itself, not to the configuration tree.
const FOREIGN_VARIABLES: &[&str] =
    &["config", "admin_url", "public_url", "admin_token", "admin_token_file", "test_database_url", "update_openapi"];

pub const DEFAULT_CONFIG_FILE: &str = "tessera.toml";

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("invalid configuration: {0}")]
    Invalid(#[from] Box<figment::Error>),
    #[error("{0}: give either `{0}` or `{0}_file`, not both")]
    SecretGivenTwice(String),
    #[error("cannot read {name}_file {path}: {error}")]
    SecretFile { name: String, path: PathBuf, error: std::io::Error },
    #[error("{0}")]
    Rule(String),
}

pub use tessera_domain::secret::Secret;

/// Resolves `name` / `name_file` into the secret, if either is given. A file's
/// trailing newline is trimmed.
pub fn resolve_secret(
    name: &str,
    inline: &Option<Secret>,
    file: &Option<PathBuf>,
) -> Result<Option<Secret>, ConfigError> {
    match (inline, file) {
        (Some(_), Some(_)) => Err(ConfigError::SecretGivenTwice(name.to_owned())),
        (Some(secret), None) => Ok(Some(secret.clone())),
        (None, Some(path)) => std::fs::read_to_string(path)
            .map(|text| Some(Secret::new(text.trim_end_matches(['\n', '\r']).to_owned())))
            .map_err(|error| ConfigError::SecretFile { name: name.to_owned(), path: path.clone(), error }),
        (None, None) => Ok(None),
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    #[default]
    Development,
    Production,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Buyers' apps, storefront webhooks, the portal.
    pub public_addr: SocketAddr,
    /// The operator only: admin API and Swagger UI.
    pub admin_addr: SocketAddr,
    /// Where buyers reach the public listener, used in emails and the portal.
    /// Omitted: `http://` + the address the public listener is bound to.
    pub base_url: Option<String>,
    /// `iss` of every token.
    pub issuer: String,
    /// A message returned to every app on activate, validate and heartbeat
    /// (e.g. "Version 3 is out"); up to 500 characters.
    pub notice: Option<String>,
    /// A client must finish each request head within this many seconds (from
    /// the connection's start, or the first byte of a later request).
    pub header_timeout_s: u64,
    /// A keep-alive connection silent for this many seconds is closed.
    pub idle_timeout_s: u64,
    /// Open connections per listener; each listener has its own budget. Over
    /// it, new connections are closed at once.
    pub max_connections: u32,
}

impl ServerConfig {
    /// `base_url`, or the public listener's address when it is not set (an
    /// unspecified address such as 0.0.0.0 is shown as 127.0.0.1).
    pub fn base_url(&self) -> String {
        self.base_url.clone().unwrap_or_else(|| {
            let mut addr = self.public_addr;
            if addr.ip().is_unspecified() {
                addr.set_ip([127, 0, 0, 1].into());
            }
            format!("http://{addr}")
        })
    }

    pub fn connection_limits(&self) -> crate::connections::ConnectionLimits {
        crate::connections::ConnectionLimits {
            header_timeout: std::time::Duration::from_secs(self.header_timeout_s),
            idle_timeout: std::time::Duration::from_secs(self.idle_timeout_s),
            max_connections: self.max_connections as usize,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            public_addr: ([127, 0, 0, 1], 8080).into(),
            admin_addr: ([127, 0, 0, 1], 8081).into(),
            base_url: None,
            issuer: "tessera".into(),
            notice: None,
            header_timeout_s: 10,
            idle_timeout_s: 60,
            max_connections: 4096,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    pub url: String,
    /// A file holding the URL instead (it carries the password): e.g. a
    /// Docker secret or a systemd credential.
    pub url_file: Option<PathBuf>,
    /// Postgres pool size.
    pub max_connections: u32,
    /// SQLite only: `full` (default) commits durably, surviving a power loss;
    /// `normal` is faster but a power loss can drop the last acknowledged writes.
    pub sqlite_synchronous: SqliteSynchronous,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: DEFAULT_DATABASE_URL.into(),
            url_file: None,
            max_connections: 16,
            sqlite_synchronous: SqliteSynchronous::Full,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSynchronous {
    #[default]
    Full,
    Normal,
}

const DEFAULT_DATABASE_URL: &str = "sqlite://tessera.db?mode=rwc";

impl DatabaseConfig {
    /// The URL to connect to: `url_file`'s content when given (then `url`
    /// must be left at its default), else `url`.
    pub fn resolved_url(&self) -> Result<String, ConfigError> {
        let explicit = (self.url != DEFAULT_DATABASE_URL).then(|| Secret::new(self.url.clone()));
        let resolved = resolve_secret("database.url", &explicit, &self.url_file)?;
        Ok(resolved.map_or_else(|| self.url.clone(), |url| url.expose().to_owned()))
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    pub token: Option<Secret>,
    pub token_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SigningConfig {
    /// Which configured key signs; may be omitted when exactly one key has a private half.
    pub active_kid: Option<String>,
    pub keys: Vec<SigningKeyConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningKeyConfig {
    pub kid: String,
    /// PKCS#8 PEM, inline.
    #[serde(default)]
    pub private_key: Option<Secret>,
    #[serde(default)]
    pub private_key_file: Option<PathBuf>,
    /// A retired key: base64url of the 32-byte public key; verifies, never signs.
    #[serde(default)]
    pub public_key: Option<String>,
}

/// Leases and activation limits (contract §2 `[licenses]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LicensesConfig {
    /// Lifetime of a machine's lease; the app checks in before it ends.
    pub lease_days: u32,
    /// Days an app keeps working offline after its lease expired.
    pub grace_days: u32,
    /// New activations per license per rolling 24 h once that many machines
    /// were deactivated in the window (stops lease minting by cycling machines);
    /// 0 turns the limit off.
    pub activation_churn_per_day: u32,
}

impl Default for LicensesConfig {
    fn default() -> Self {
        let policy = ActivationPolicy::default();
        Self {
            lease_days: policy.lease_days,
            grace_days: policy.grace_days,
            activation_churn_per_day: policy.churn_per_day,
        }
    }
}

impl LicensesConfig {
    pub fn policy(&self) -> ActivationPolicy {
        ActivationPolicy {
            lease_days: self.lease_days,
            grace_days: self.grace_days,
            churn_per_day: self.activation_churn_per_day,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Pretty,
    Json,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductConfig {
    pub slug: String,
    pub name: String,
    pub key_prefix: String,
    pub tiers: BTreeMap<String, TierConfig>,
    /// The storefront page where buyers renew; the portal links to it for
    /// licenses that expire within 30 days or have expired.
    #[serde(default)]
    pub renew_url: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierConfig {
    /// What buyers see in emails and the portal (e.g. "Studio Edition");
    /// omitted: the tier's slug.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub features: Vec<String>,
    pub seats: u32,
    /// Omitted: perpetual.
    #[serde(default)]
    pub duration_days: Option<u32>,
    /// App major versions this tier may activate, e.g. `[2, 3]`; omitted: any.
    #[serde(default)]
    pub app_versions: Option<Vec<u32>>,
    /// Release channels this tier may download, e.g. `["stable", "beta"]`; omitted: all.
    #[serde(default)]
    pub channels: Option<Vec<String>>,
    /// An expired license keeps the releases published while it was valid.
    #[serde(default)]
    pub perpetual_fallback: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub environment: Environment,
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub admin: AdminConfig,
    pub signing: SigningConfig,
    pub licenses: LicensesConfig,
    pub log: LogConfig,
    pub products: Vec<ProductConfig>,
    pub storefronts: StorefrontsConfig,
    pub mail: MailConfig,
    pub rate_limits: RateLimitsConfig,
    pub portal: PortalConfig,
    pub releases: ReleasesConfig,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageKind {
    /// A directory on this machine (`path`): the embedded default of one server.
    #[default]
    File,
    /// S3-compatible object storage (`[releases.s3]`), shared by several instances.
    S3,
}

/// Release files and their downloads (contract §2 `[releases]`, §9).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReleasesConfig {
    pub storage: StorageKind,
    /// The directory of `file` storage.
    pub path: PathBuf,
    /// The bucket of `s3` storage.
    pub s3: Option<tessera_s3_storage::S3Config>,
    /// Where uploads are staged while they are hashed and signed; omitted:
    /// `<path>/.uploads` (`file`), the system's temporary directory (`s3`).
    pub staging_dir: Option<PathBuf>,
    /// The largest artifact an upload may send, in MiB (the 64 KiB body
    /// limit does not apply to uploads; this does).
    pub max_upload_mb: u64,
    /// How long a link answered by `GET /v1/artifacts/{id}` works (1-1440).
    pub link_minutes: u32,
    /// How long a link inside an update feed works (1-168): an updater may
    /// download some time after it read the feed.
    pub feed_link_hours: u32,
}

impl Default for ReleasesConfig {
    fn default() -> Self {
        Self {
            storage: StorageKind::File,
            path: PathBuf::from("tessera-artifacts"),
            s3: None,
            staging_dir: None,
            max_upload_mb: 4096,
            link_minutes: 10,
            feed_link_hours: 24,
        }
    }
}

impl ReleasesConfig {
    pub fn staging_dir(&self) -> PathBuf {
        self.staging_dir.clone().unwrap_or_else(|| match self.storage {
            StorageKind::File => self.path.join(".uploads"),
            StorageKind::S3 => std::env::temp_dir().join("tessera-uploads"),
        })
    }

    pub fn link_lifetimes(&self) -> tessera_domain::release::LinkLifetimes {
        tessera_domain::release::LinkLifetimes {
            direct: time::Duration::minutes(self.link_minutes.into()),
            feed: time::Duration::hours(self.feed_link_hours.into()),
        }
    }
}

/// The buyers' self-service portal (`/portal` on the public listener).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PortalConfig {
    /// How long the link in a portal email works, in minutes (5-1440).
    pub link_minutes: u32,
}

impl Default for PortalConfig {
    fn default() -> Self {
        Self { link_minutes: 60 }
    }
}

/// Per-IP, per-route limits on the public listener (contract §2 `[rate_limits]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitsConfig {
    /// `false` turns every limit off (load tests).
    pub enabled: bool,
    /// Peers whose `X-Forwarded-For` is believed: addresses or CIDRs, e.g.
    /// `["127.0.0.1"]` behind nginx on the same host.
    pub trusted_proxies: Vec<String>,
    /// Requests per minute per client IP.
    pub activate_per_minute: u32,
    pub validate_per_minute: u32,
    pub heartbeat_per_minute: u32,
    pub deactivate_per_minute: u32,
    /// `/v1/usage` and `/v1/flags` together.
    pub usage_per_minute: u32,
    /// Failed webhook authentications per minute per IP (authenticated
    /// deliveries are never limited).
    pub webhook_auth_failures_per_minute: u32,
    /// Requests per minute per client IP to the release routes (newest
    /// release, artifact links, update feeds, downloads).
    pub downloads_per_minute: u32,
    /// Portal "email me my licenses" requests per hour, per client IP and per
    /// email address.
    pub portal_redeliver_per_hour: u32,
    pub portal_redeliver_per_hour_per_email: u32,
    /// `redis://host:port[/db]`: one budget shared by every instance that
    /// names the same Redis. Unset, each instance has its own.
    pub redis_url: Option<String>,
}

impl Default for RateLimitsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            trusted_proxies: Vec::new(),
            activate_per_minute: 10,
            validate_per_minute: 100,
            heartbeat_per_minute: 60,
            deactivate_per_minute: 10,
            usage_per_minute: 60,
            webhook_auth_failures_per_minute: 10,
            downloads_per_minute: 60,
            portal_redeliver_per_hour: 5,
            portal_redeliver_per_hour_per_email: 3,
            redis_url: None,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailProvider {
    /// Writes each email as an `.eml` file under `mail.log_dir` (development).
    #[default]
    Log,
    Postmark,
}

/// The email outbox and its provider (contract §2 `[mail]`, §7).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    pub provider: MailProvider,
    /// `Name <address>` of the sender.
    pub from: String,
    /// Where the `log` provider writes `.eml` files.
    pub log_dir: PathBuf,
    pub postmark: Option<PostmarkConfig>,
    pub retry: MailRetryConfig,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            provider: MailProvider::Log,
            from: "Tessera <licenses@localhost>".into(),
            log_dir: PathBuf::from("tessera-mail"),
            postmark: None,
            retry: MailRetryConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostmarkConfig {
    /// The Postmark server token.
    #[serde(default)]
    pub token: Option<Secret>,
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// Overridable so tests can point at a local fake.
    #[serde(default = "PostmarkConfig::default_base_url")]
    pub base_url: String,
    #[serde(default = "PostmarkConfig::default_message_stream")]
    pub message_stream: String,
}

impl PostmarkConfig {
    fn default_base_url() -> String {
        "https://api.postmarkapp.com".into()
    }

    fn default_message_stream() -> String {
        "outbound".into()
    }
}

/// Backoff of transient send failures: `initial_seconds · 2^(n-1)`, at most
/// `max_seconds`, failed after `max_attempts`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailRetryConfig {
    pub initial_seconds: u32,
    pub max_seconds: u32,
    pub max_attempts: u32,
}

impl Default for MailRetryConfig {
    fn default() -> Self {
        let policy = tessera_domain::mail::RetryPolicy::default();
        Self {
            initial_seconds: policy.initial_delay.whole_seconds() as u32,
            max_seconds: policy.max_delay.whole_seconds() as u32,
            max_attempts: policy.max_attempts,
        }
    }
}

impl MailRetryConfig {
    pub fn policy(&self) -> tessera_domain::mail::RetryPolicy {
        tessera_domain::mail::RetryPolicy {
            initial_delay: time::Duration::seconds(i64::from(self.initial_seconds)),
            max_delay: time::Duration::seconds(i64::from(self.max_seconds)),
            max_attempts: self.max_attempts,
        }
    }
}

/// Declares the storefronts the server knows: each is one line, the section
/// name and its adapter crate's configuration type (which implements
/// `StorefrontSettings`). Adding a storefront is a new adapter crate and a
/// line here.
macro_rules! storefronts {
    ($($(#[doc = $doc:literal])* $name:ident: $config:ty,)+) => {
        /// Storefronts whose webhooks mint licenses (contract §2 `[storefronts]`).
        #[derive(Debug, Clone, Default, Deserialize)]
        #[serde(deny_unknown_fields, default)]
        pub struct StorefrontsConfig {
            $($(#[doc = $doc])* pub $name: Option<$config>,)+
        }

        impl StorefrontsConfig {
            /// The configured sections, in declaration order.
            pub fn configured(&self) -> Vec<&dyn StorefrontSettings> {
                let mut configured: Vec<&dyn StorefrontSettings> = Vec::new();
                $(if let Some(section) = &self.$name {
                    configured.push(section);
                })+
                configured
            }
        }
    };
}

storefronts! {
    /// Gumroad's pings and resource subscriptions at `/webhooks/gumroad`.
    gumroad: tessera_gumroad::GumroadConfig,
    /// Custom checkouts posting signed JSON to `/webhooks/checkout`.
    checkout: tessera_checkout::CheckoutConfig,
    /// Lemon Squeezy's signed webhooks at `/webhooks/lemonsqueezy`.
    lemonsqueezy: tessera_lemonsqueezy::LemonSqueezyConfig,
    /// Paddle Billing's notifications at `/webhooks/paddle`.
    paddle: tessera_paddle::PaddleConfig,
    /// Stripe's webhooks at `/webhooks/stripe`.
    stripe: tessera_stripe::StripeConfig,
    /// Polar's Standard Webhooks at `/webhooks/polar`.
    polar: tessera_polar::PolarConfig,
}

impl Config {
    /// Loads the layered configuration. `file` is `--config`; without it,
    /// `TESSERA_CONFIG`, then `./tessera.toml` if present.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let explicit = file.map(Path::to_path_buf).or_else(|| std::env::var_os("TESSERA_CONFIG").map(PathBuf::from));
        let path = match explicit {
            Some(path) if !path.exists() => return Err(ConfigError::MissingFile(path)),
            Some(path) => path,
            None => PathBuf::from(DEFAULT_CONFIG_FILE),
        };
        let env = Env::prefixed("TESSERA_")
            .split("__")
            .filter(|key| !FOREIGN_VARIABLES.iter().any(|foreign| key.as_str().eq_ignore_ascii_case(foreign)));
        Self::from_figment(Figment::new().merge(Toml::file(path)).merge(env))
    }

    pub fn from_figment(figment: Figment) -> Result<Self, ConfigError> {
        figment.extract().map_err(|error| ConfigError::Invalid(Box::new(error)))
    }

    /// The admin token, if configured.
    pub fn admin_token(&self) -> Result<Option<Secret>, ConfigError> {
        resolve_secret("admin.token", &self.admin.token, &self.admin.token_file)
    }
}
