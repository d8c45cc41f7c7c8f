//! From configuration to a running state: secrets, keys, catalog, database.
//! Development starts with nothing configured; production refuses to start on
//! anything that would be unsafe (contract §1).

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tessera_domain::catalog::{Catalog, Product, Tier};
use tessera_ring::{
    b64url, generate_private_key_pem, public_key_from_base64url, Keyring, RingRandomSource, SigningKey,
    DEVELOPMENT_KEY_MARKER,
};
use tessera_sea_orm::{connect, Database, DatabaseOptions, SeaOrmStore, SqliteDurability};
use thiserror::Error;

use crate::config::StorageKind;
use crate::config::{resolve_secret, Config, ConfigError, Environment, MailProvider, ProductConfig, Secret};
use crate::rate_limit::{Limits, RateLimits, SharedBudget};
use crate::state::{AdminToken, AppState, ReleaseSettings, Settings, UploadLimits};
use crate::system_clock::SystemClock;
use tessera_domain::mail::{MailSettings, Mailer};
use tessera_domain::release::ArtifactStore;
use tessera_domain::storefront::{ConfiguredStorefront, StorefrontCredentials};
use tessera_file_storage::FileArtifactStore;
use tessera_log_mail::LogMailer;
use tessera_postmark::PostmarkMailer;
use tessera_s3_storage::S3ArtifactStore;

pub const DEV_KEY_FILE: &str = "tessera-dev-key.pem";
pub const DEV_KEY_KID: &str = "dev";
pub const DEV_ADMIN_TOKEN_FILE: &str = "tessera-admin-token";
pub const MIN_PRODUCTION_TOKEN_LEN: usize = 32;

#[derive(Debug, Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("production: {0}")]
    Production(String),
    #[error("signing key `{kid}`: {reason}")]
    SigningKey { kid: String, reason: String },
    #[error("signing: {0}")]
    Signing(String),
    #[error("products: {0}")]
    Catalog(#[from] tessera_domain::catalog::CatalogError),
    #[error("{path}: {error}")]
    File { path: PathBuf, error: std::io::Error },
    #[error("database: {0}")]
    Database(#[from] tessera_sea_orm::ConnectError),
}

fn file_error(path: &Path) -> impl FnOnce(std::io::Error) -> StartupError + '_ {
    move |error| StartupError::File { path: path.to_owned(), error }
}

/// Writes a new file readable by its owner only; fails if it exists.
fn create_private_file(path: &Path, contents: &str) -> Result<(), StartupError> {
    let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(file_error(path))?;
    file.write_all(contents.as_bytes()).and_then(|()| file.sync_all()).map_err(file_error(path))
}

/// Whether a development start may create the development key and admin
/// token files (`serve`), or only look (`check-config`, which changes nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DevFiles {
    Create,
    Inspect,
}

/// The admin token and, when it was generated now, the token itself to print once.
pub struct AdminTokenSource {
    pub token: AdminToken,
    pub generated: Option<String>,
    pub origin: String,
}

pub fn admin_token(config: &Config, dev_files: DevFiles) -> Result<AdminTokenSource, StartupError> {
    if let Some(token) = config.admin_token()? {
        if config.environment == Environment::Production && token.expose().len() < MIN_PRODUCTION_TOKEN_LEN {
            return Err(StartupError::Production(format!(
                "the admin token must be at least {MIN_PRODUCTION_TOKEN_LEN} characters"
            )));
        }
        if token.expose().is_empty() {
            return Err(ConfigError::Rule("admin.token is empty".into()).into());
        }
        return Ok(AdminTokenSource {
            token: AdminToken::new(token.expose()),
            generated: None,
            origin: "configuration".into(),
        });
    }
    if config.environment == Environment::Production {
        return Err(StartupError::Production("set admin.token_file (an admin token of at least 32 characters)".into()));
    }
    let path = Path::new(DEV_ADMIN_TOKEN_FILE);
    if path.exists() {
        let token = std::fs::read_to_string(path).map_err(file_error(path))?;
        let token = token.trim_end_matches(['\n', '\r']);
        return Ok(AdminTokenSource {
            token: AdminToken::new(token),
            generated: None,
            origin: format!("./{DEV_ADMIN_TOKEN_FILE}"),
        });
    }
    let mut bytes = [0u8; 32];
    tessera_domain::random::RandomSource::fill(&RingRandomSource::new(), &mut bytes);
    let token = b64url(&bytes);
    if dev_files == DevFiles::Inspect {
        return Ok(AdminTokenSource {
            token: AdminToken::new(&token),
            generated: None,
            origin: format!("./{DEV_ADMIN_TOKEN_FILE} (created on the first start)"),
        });
    }
    create_private_file(path, &format!("{token}\n"))?;
    Ok(AdminTokenSource {
        token: AdminToken::new(&token),
        generated: Some(token),
        origin: format!("./{DEV_ADMIN_TOKEN_FILE}"),
    })
}

fn readable_by_others(path: &Path) -> Result<bool, StartupError> {
    let mode = std::fs::metadata(path).map_err(file_error(path))?.permissions().mode();
    Ok(mode & 0o077 != 0)
}

/// The keyring from `[signing]`, or in development the development key
/// (created on first start).
pub fn keyring(config: &Config, dev_files: DevFiles) -> Result<Keyring, StartupError> {
    let production = config.environment == Environment::Production;
    if config.signing.keys.is_empty() {
        if production {
            return Err(StartupError::Production(
                "configure [[signing.keys]] with a private_key_file; the development key is refused".into(),
            ));
        }
        let path = Path::new(DEV_KEY_FILE);
        let pem = if path.exists() {
            std::fs::read_to_string(path).map_err(file_error(path))?
        } else {
            let pem = generate_private_key_pem(Some(DEVELOPMENT_KEY_MARKER))
                .map_err(|error| StartupError::Signing(error.to_string()))?;
            if dev_files == DevFiles::Create {
                create_private_file(path, &pem)?;
            }
            pem
        };
        let key = SigningKey::from_pem(DEV_KEY_KID, &pem)
            .map_err(|error| StartupError::SigningKey { kid: DEV_KEY_KID.into(), reason: error.to_string() })?;
        return Keyring::new(key, vec![]).map_err(|error| StartupError::Signing(error.to_string()));
    }

    let mut private = Vec::new();
    let mut retired = Vec::new();
    for key in &config.signing.keys {
        let fail = |reason: String| StartupError::SigningKey { kid: key.kid.clone(), reason };
        let name = format!("signing.keys[{}].private_key", key.kid);
        match (resolve_secret(&name, &key.private_key, &key.private_key_file)?, &key.public_key) {
            (Some(_), Some(_)) => return Err(fail("give a private key or a public_key, not both".into())),
            (None, None) => return Err(fail("give private_key_file (active) or public_key (retired)".into())),
            (None, Some(public)) => {
                retired.push((
                    key.kid.clone(),
                    public_key_from_base64url(public).map_err(|error| fail(error.to_string()))?,
                ));
            }
            (Some(pem), None) => {
                if production && pem.expose().contains(DEVELOPMENT_KEY_MARKER) {
                    return Err(StartupError::Production(format!("signing key `{}` is the development key", key.kid)));
                }
                if let Some(path) = &key.private_key_file {
                    if readable_by_others(path)? {
                        if production {
                            return Err(StartupError::Production(format!(
                                "{} is readable by group or other; chmod 600 it",
                                path.display()
                            )));
                        }
                        tracing::warn!(path = %path.display(), "signing key file is readable by group or other");
                    }
                }
                private.push(
                    SigningKey::from_pem(key.kid.clone(), pem.expose()).map_err(|error| fail(error.to_string()))?,
                );
            }
        }
    }
    Keyring::assemble(private, retired, config.signing.active_kid.as_deref())
        .map_err(|error| StartupError::Signing(error.to_string()))
}

/// A product to try Tessera with when none is configured (development only).
fn demo_products() -> Vec<ProductConfig> {
    let tier = |name: &str, features: &[&str], seats, duration_days| crate::config::TierConfig {
        name: Some(name.to_owned()),
        features: features.iter().map(|feature| feature.to_string()).collect(),
        seats,
        duration_days,
        app_versions: None,
        channels: None,
        perpetual_fallback: false,
    };
    vec![ProductConfig {
        slug: "demo".into(),
        name: "Demo App".into(),
        key_prefix: "DEMO".into(),
        tiers: BTreeMap::from([
            ("standard".into(), tier("Standard", &["export"], 3, None)),
            ("pro".into(), tier("Pro", &["export", "batch", "api"], 5, Some(365))),
        ]),
        renew_url: None,
    }]
}

pub fn catalog(config: &Config) -> Result<Catalog, StartupError> {
    let products = if config.products.is_empty() && config.environment == Environment::Development {
        demo_products()
    } else {
        config.products.clone()
    };
    let products = products
        .into_iter()
        .map(|product| Product {
            tiers: product
                .tiers
                .into_iter()
                .map(|(slug, tier)| {
                    let tier = Tier {
                        name: tier.name,
                        slug: slug.clone(),
                        features: tier.features,
                        seats: tier.seats,
                        duration_days: tier.duration_days,
                        app_versions: tier.app_versions,
                        downloads: tessera_domain::catalog::Downloads {
                            channels: tier.channels,
                            perpetual_fallback: tier.perpetual_fallback,
                        },
                    };
                    (slug, tier)
                })
                .collect(),
            slug: product.slug,
            name: product.name,
            key_prefix: product.key_prefix,
            renew_url: product.renew_url,
        })
        .collect();
    Ok(Catalog::new(products)?)
}

/// Everything checked without touching the database: what `check-config` runs.
pub struct Checked {
    pub admin_token: AdminTokenSource,
    pub keyring: Keyring,
    pub catalog: Catalog,
    pub storefronts: Vec<ConfiguredStorefront>,
    pub mailer: Arc<dyn Mailer>,
    pub rate_limits: Option<RateLimits>,
    /// Where the mailer sends, for the start-up log (never a secret).
    pub mailer_description: String,
    pub releases: ReleaseSettings,
}

/// The configured mail provider. Production refuses the `log` provider's
/// silent default only by warning: a shop may start before mail is set up.
pub fn mailer(config: &Config) -> Result<(Arc<dyn Mailer>, String), StartupError> {
    let mail = &config.mail;
    if mail.from.trim().is_empty() || !mail.from.contains('@') {
        return Err(
            ConfigError::Rule("mail.from must be an address, e.g. \"Shop <licenses@example.com>\"".into()).into()
        );
    }
    match mail.provider {
        MailProvider::Log => {
            if mail.postmark.is_some() {
                return Err(ConfigError::Rule("[mail.postmark] is set but mail.provider is \"log\"".into()).into());
            }
            if config.environment == Environment::Production {
                tracing::warn!(
                    "mail.provider is \"log\": emails are written to {} and not sent",
                    mail.log_dir.display()
                );
            }
            let description = format!("log ({})", mail.log_dir.display());
            Ok((Arc::new(LogMailer::new(mail.log_dir.clone())), description))
        }
        MailProvider::Postmark => {
            let postmark = mail
                .postmark
                .as_ref()
                .ok_or_else(|| ConfigError::Rule("mail.provider = \"postmark\" needs [mail.postmark]".into()))?;
            let token = resolve_secret("mail.postmark.token", &postmark.token, &postmark.token_file)?
                .ok_or_else(|| ConfigError::Rule("[mail.postmark] needs token_file (or token)".into()))?;
            if token.expose().trim().is_empty() {
                return Err(ConfigError::Rule("mail.postmark.token is empty".into()).into());
            }
            if !postmark.base_url.starts_with("http://") && !postmark.base_url.starts_with("https://") {
                return Err(
                    ConfigError::Rule("mail.postmark.base_url must start with http:// or https://".into()).into()
                );
            }
            let mailer = PostmarkMailer::new(&postmark.base_url, token.expose(), postmark.message_stream.clone());
            Ok((Arc::new(mailer), format!("postmark ({})", postmark.base_url)))
        }
    }
}

/// A storefront's secret (16+ characters) from `secret` / `secret_file`.
fn storefront_secret(name: &str, inline: &Option<Secret>, file: &Option<PathBuf>) -> Result<Secret, StartupError> {
    let secret = resolve_secret(&format!("storefronts.{name}.secret"), inline, file)?
        .ok_or_else(|| ConfigError::Rule(format!("storefronts.{name} needs secret_file (or secret)")))?;
    if secret.expose().len() < 16 {
        return Err(ConfigError::Rule(format!("storefronts.{name}.secret must be at least 16 characters")).into());
    }
    Ok(secret)
}

/// The configured storefronts, their secrets read and their product mappings
/// checked against the catalog.
pub fn storefronts(config: &Config, catalog: &Catalog) -> Result<Vec<ConfiguredStorefront>, StartupError> {
    config
        .storefronts
        .configured()
        .into_iter()
        .map(|settings| {
            let name = settings.name();
            let secret =
                storefront_secret(name, &settings.secret().cloned(), &settings.secret_file().map(Path::to_path_buf))?;
            let api_key = if let Some(url) = settings.api_base_url() {
                if !url.starts_with("http://") && !url.starts_with("https://") {
                    let rule = format!("storefronts.{name}.api_base_url must start with http:// or https://");
                    return Err(ConfigError::Rule(rule).into());
                }
                let key = resolve_secret(
                    &format!("storefronts.{name}.api_key"),
                    &settings.api_key().cloned(),
                    &settings.api_key_file().map(Path::to_path_buf),
                )?
                .filter(|key| !key.expose().trim().is_empty())
                .ok_or_else(|| ConfigError::Rule(format!("storefronts.{name} needs api_key_file (or api_key)")))?;
                Some(key)
            } else {
                None
            };
            let credentials =
                StorefrontCredentials { secret: secret.expose(), api_key: api_key.as_ref().map(Secret::expose) };
            let adapter = settings.storefront(credentials, Arc::new(SystemClock));
            ConfiguredStorefront::new(adapter, settings.on_refund(), settings.products().clone(), catalog)
                .map_err(|error| ConfigError::Rule(error.to_string()).into())
        })
        .collect()
}

/// The limiters, or `None` when turned off; every trusted proxy must parse.
pub fn rate_limits(config: &Config) -> Result<Option<RateLimits>, StartupError> {
    let settings = &config.rate_limits;
    if !settings.enabled {
        return Ok(None);
    }
    let trusted = settings
        .trusted_proxies
        .iter()
        .map(|entry| {
            entry
                .parse::<ipnet::IpNet>()
                .or_else(|_| entry.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    ConfigError::Rule(format!("rate_limits.trusted_proxies: `{entry}` is not an IP address or CIDR"))
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let limits = Limits {
        activate: settings.activate_per_minute,
        validate: settings.validate_per_minute,
        heartbeat: settings.heartbeat_per_minute,
        deactivate: settings.deactivate_per_minute,
        usage: settings.usage_per_minute,
        webhook_auth_failures: settings.webhook_auth_failures_per_minute,
        downloads: settings.downloads_per_minute,
        portal_redeliver_per_ip: settings.portal_redeliver_per_hour,
        portal_redeliver_per_email: settings.portal_redeliver_per_hour_per_email,
    };
    if [
        limits.activate,
        limits.validate,
        limits.heartbeat,
        limits.deactivate,
        limits.usage,
        limits.webhook_auth_failures,
        limits.downloads,
        limits.portal_redeliver_per_ip,
        limits.portal_redeliver_per_email,
    ]
    .contains(&0)
    {
        return Err(ConfigError::Rule(
            "rate_limits: every *_per_minute and *_per_hour is at least 1 (or set enabled = false)".into(),
        )
        .into());
    }
    let shared = match &settings.redis_url {
        Some(url) => {
            let redis = tessera_redis_limits::RedisBudget::new(url, "tessera:rate")
                .map_err(|error| ConfigError::Rule(format!("rate_limits.redis_url: {error}")))?;
            Some(SharedBudget::new(redis))
        }
        None => None,
    };
    Ok(Some(RateLimits::new(&limits, trusted, shared)))
}

/// Everything `serve` needs from the configuration, checked; in development
/// the development key and admin token files are created when absent.
pub fn check(config: &Config) -> Result<Checked, StartupError> {
    check_with(config, DevFiles::Create)
}

/// [`check`] without side effects, for `check-config`: a missing development
/// key or admin token is not created (the first `serve` does that, and
/// prints the token).
pub fn inspect(config: &Config) -> Result<Checked, StartupError> {
    check_with(config, DevFiles::Inspect)
}

fn check_with(config: &Config, dev_files: DevFiles) -> Result<Checked, StartupError> {
    let base_url = config.server.base_url();
    if !base_url.starts_with("http://") && !base_url.starts_with("https://") {
        return Err(ConfigError::Rule("server.base_url must start with http:// or https://".into()).into());
    }
    if config.server.notice.as_ref().is_some_and(|notice| notice.trim().is_empty() || notice.chars().count() > 500) {
        return Err(ConfigError::Rule("server.notice is 1-500 characters (omit it for none)".into()).into());
    }
    let server = &config.server;
    if server.header_timeout_s == 0 || server.idle_timeout_s == 0 || server.max_connections == 0 {
        return Err(ConfigError::Rule(
            "server.header_timeout_s, idle_timeout_s and max_connections must be at least 1".into(),
        )
        .into());
    }
    if config.server.issuer.trim().is_empty() {
        return Err(ConfigError::Rule("server.issuer is empty".into()).into());
    }
    config.licenses.policy().validate().map_err(ConfigError::Rule)?;
    if !(5..=1440).contains(&config.portal.link_minutes) {
        return Err(ConfigError::Rule("portal.link_minutes must be 5-1440".into()).into());
    }
    let retry = &config.mail.retry;
    if retry.initial_seconds == 0 || retry.max_seconds < retry.initial_seconds || retry.max_attempts == 0 {
        return Err(ConfigError::Rule(
            "mail.retry: initial_seconds ≥ 1, max_seconds ≥ initial_seconds and max_attempts ≥ 1".into(),
        )
        .into());
    }
    config.database.resolved_url()?;
    let catalog = catalog(config)?;
    let storefronts = storefronts(config, &catalog)?;
    let (mailer, mailer_description) = mailer(config)?;
    Ok(Checked {
        keyring: keyring(config, dev_files)?,
        catalog,
        storefronts,
        admin_token: admin_token(config, dev_files)?,
        mailer,
        mailer_description,
        rate_limits: rate_limits(config)?,
        releases: release_settings(config, dev_files)?,
    })
}

pub async fn open_database(config: &Config) -> Result<Database, StartupError> {
    let sqlite_durability = match config.database.sqlite_synchronous {
        crate::config::SqliteSynchronous::Full => SqliteDurability::Full,
        crate::config::SqliteSynchronous::Normal => SqliteDurability::Normal,
    };
    let options =
        DatabaseOptions { max_connections: config.database.max_connections, sqlite_durability, ..Default::default() };
    let database = connect(&config.database.resolved_url()?, &options).await?;
    database.migrate().await?;
    Ok(database)
}

/// Wires the sea-orm store to the use cases.
pub fn app_state(config: &Config, checked: Checked, database: Database) -> Arc<AppState> {
    AppState::new(
        Arc::new(SeaOrmStore::new(database)),
        Settings {
            keyring: Arc::new(checked.keyring),
            clock: Arc::new(SystemClock),
            catalog: checked.catalog,
            issuer: config.server.issuer.clone(),
            admin_token: checked.admin_token.token,
            activation: config.licenses.policy(),
            storefronts: checked.storefronts,
            mailer: checked.mailer,
            mail: MailSettings { from: config.mail.from.clone(), base_url: config.server.base_url() },
            retry: config.mail.retry.policy(),
            notice: config.server.notice.clone(),
            rate_limits: checked.rate_limits,
            portal_link_lifetime: time::Duration::minutes(config.portal.link_minutes.into()),
            releases: checked.releases,
        },
    )
}

/// Release storage from `[releases]`: the directory is created if missing.
pub fn release_settings(config: &Config, dev_files: DevFiles) -> Result<ReleaseSettings, StartupError> {
    let releases = &config.releases;
    if !(1..=1440).contains(&releases.link_minutes) || !(1..=168).contains(&releases.feed_link_hours) {
        return Err(ConfigError::Rule("releases.link_minutes must be 1-1440 and feed_link_hours 1-168".into()).into());
    }
    if releases.max_upload_mb == 0 {
        return Err(ConfigError::Rule("releases.max_upload_mb must be at least 1".into()).into());
    }
    let staging_dir = releases.staging_dir();
    if releases.s3.is_some() && releases.storage != StorageKind::S3 {
        return Err(ConfigError::Rule("[releases.s3] is set but releases.storage is not \"s3\"".into()).into());
    }
    let artifacts: Arc<dyn ArtifactStore> = match releases.storage {
        StorageKind::File if dev_files == DevFiles::Inspect => Arc::new(FileArtifactStore::unopened(&releases.path)),
        StorageKind::File => Arc::new(FileArtifactStore::new(&releases.path).map_err(file_error(&releases.path))?),
        StorageKind::S3 => {
            let s3 = releases
                .s3
                .as_ref()
                .ok_or_else(|| ConfigError::Rule("releases.storage = \"s3\" needs [releases.s3]".into()))?;
            let secret =
                resolve_secret("releases.s3.secret_access_key", &s3.secret_access_key, &s3.secret_access_key_file)?
                    .filter(|secret| !secret.expose().is_empty())
                    .ok_or_else(|| {
                        ConfigError::Rule("[releases.s3] needs secret_access_key_file (or secret_access_key)".into())
                    })?;
            let store = S3ArtifactStore::new(s3, secret.expose())
                .map_err(|error| ConfigError::Rule(format!("[releases.s3]: {}", crate::http::errors::chain(&error))))?;
            Arc::new(store)
        }
    };
    if dev_files == DevFiles::Create {
        std::fs::create_dir_all(&staging_dir).map_err(file_error(&staging_dir))?;
    }
    Ok(ReleaseSettings {
        artifacts,
        uploads: UploadLimits { staging_dir, max_bytes: releases.max_upload_mb.saturating_mul(1024 * 1024) },
        links: releases.link_lifetimes(),
    })
}
