//! Configuration (contract §2) and the production refusals of contract §1.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use figment::providers::{Format, Toml};
use figment::Figment;
use tessera_ring::{generate_private_key_pem, DEVELOPMENT_KEY_MARKER};
use tessera_server::bootstrap::{self, StartupError};
use tessera_server::config::{Config, ConfigError, Environment};

fn config(toml: &str) -> Result<Config, ConfigError> {
    Config::from_figment(Figment::new().merge(Toml::string(toml)))
}

fn write(dir: &Path, name: &str, contents: &str, mode: u32) -> String {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path.display().to_string()
}

/// A production configuration with a proper key and token, plus `extra` TOML.
fn production(dir: &Path, key_mode: u32, token: &str) -> String {
    let key = write(dir, "signing.pem", &generate_private_key_pem(None).unwrap(), key_mode);
    let token = write(dir, "admin-token", &format!("{token}\n"), 0o600);
    format!(
        r#"
environment = "production"
[admin]
token_file = "{token}"
[signing]
keys = [{{ kid = "k1", private_key_file = "{key}" }}]
[[products]]
slug = "app"
name = "App"
key_prefix = "APP"
tiers = {{ standard = {{ seats = 2 }} }}
"#
    )
}

const GOOD_TOKEN: &str = "0123456789abcdef0123456789abcdef-long";

#[test]
fn an_empty_configuration_is_development_on_loopback() {
    let config = config("").unwrap();
    assert_eq!(config.environment, Environment::Development);
    assert_eq!(config.server.public_addr.to_string(), "127.0.0.1:8080");
    assert_eq!(config.server.admin_addr.to_string(), "127.0.0.1:8081");
    assert!(config.database.url.starts_with("sqlite://"));
}

#[test]
fn an_unknown_key_is_an_error_that_names_it() {
    let error = config("[server]\npublic_adr = \"127.0.0.1:1\"\n").unwrap_err().to_string();
    assert!(error.contains("public_adr"), "{error}");
    let error = config("colour = \"blue\"\n").unwrap_err().to_string();
    assert!(error.contains("colour"), "{error}");
}

#[test]
fn a_secret_comes_inline_or_from_a_file_but_not_both() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "token", "from-the-file\n", 0o600);
    let from_file = config(&format!("[admin]\ntoken_file = \"{file}\"\n")).unwrap();
    assert_eq!(from_file.admin_token().unwrap().unwrap().expose(), "from-the-file", "trailing newline trimmed");
    let inline = config("[admin]\ntoken = \"inline\"\n").unwrap();
    assert_eq!(inline.admin_token().unwrap().unwrap().expose(), "inline");
    let both = config(&format!("[admin]\ntoken = \"x\"\ntoken_file = \"{file}\"\n")).unwrap();
    assert!(matches!(both.admin_token(), Err(ConfigError::SecretGivenTwice(name)) if name == "admin.token"));
    let missing = config("[admin]\ntoken_file = \"/nonexistent/token\"\n").unwrap();
    assert!(matches!(missing.admin_token(), Err(ConfigError::SecretFile { .. })));
    assert!(!format!("{inline:?}").contains("inline\""), "Debug never prints a secret");
}

#[test]
fn a_sound_production_configuration_passes() {
    let dir = tempfile::tempdir().unwrap();
    let checked = bootstrap::check(&config(&production(dir.path(), 0o600, GOOD_TOKEN)).unwrap()).unwrap();
    assert_eq!(checked.keyring.active().kid, "k1");
    assert!(checked.admin_token.generated.is_none());
    assert!(checked.admin_token.token.matches(GOOD_TOKEN));
}

fn refusal(toml: &str) -> String {
    match bootstrap::check(&config(toml).unwrap()) {
        Err(error @ StartupError::Production(_)) => error.to_string(),
        Err(other) => panic!("expected a production refusal, got {other}"),
        Ok(_) => panic!("expected a production refusal, it started"),
    }
}

#[test]
fn production_refuses_what_would_be_unsafe() {
    let dir = tempfile::tempdir().unwrap();
    let good = production(dir.path(), 0o600, GOOD_TOKEN);

    let no_key = good.replace("keys = [", "# keys = [");
    assert!(refusal(&no_key).contains("signing"));

    let short = production(dir.path(), 0o600, "short-token");
    assert!(refusal(&short).contains("at least 32"));

    let no_token = good.replace("token_file", "# token_file");
    assert!(refusal(&no_token).contains("admin"));

    let world_readable = production(dir.path(), 0o644, GOOD_TOKEN);
    assert!(refusal(&world_readable).contains("chmod 600"));

    let no_products_dir = tempfile::tempdir().unwrap();
    let dev_key = write(
        no_products_dir.path(),
        "dev.pem",
        &generate_private_key_pem(Some(DEVELOPMENT_KEY_MARKER)).unwrap(),
        0o600,
    );
    let with_dev_key = good.replace(&format!("{}/signing.pem", dir.path().display()), &dev_key);
    assert!(refusal(&with_dev_key).contains("development key"));
}

#[test]
fn development_warns_but_starts_with_a_readable_key() {
    let dir = tempfile::tempdir().unwrap();
    let toml = production(dir.path(), 0o644, GOOD_TOKEN).replace("environment = \"production\"", "");
    assert!(bootstrap::check(&config(&toml).unwrap()).is_ok());
}

#[test]
fn gumroad_needs_a_secret_and_mappings_to_known_tiers() {
    let dir = tempfile::tempdir().unwrap();
    let base = production(dir.path(), 0o600, GOOD_TOKEN);
    let secret = write(dir.path(), "gumroad-secret", "a-long-enough-post-url-secret\n", 0o600);
    let with = |gumroad: &str| format!("{base}\n[storefronts.gumroad]\n{gumroad}\n");

    let good = with(&format!(
        "secret_file = \"{secret}\"\non_refund = \"ignore\"\n[storefronts.gumroad.products.\"32-nPAicqbLj8B_WswVlMw==\"]\nproduct = \"app\"\ntier = \"standard\"\n"
    ));
    let checked = bootstrap::check(&config(&good).unwrap()).unwrap();
    assert_eq!(checked.storefronts.len(), 1);
    assert_eq!(checked.storefronts[0].adapter.name(), "gumroad");
    let both = format!(
        "{good}\n[storefronts.checkout]\nsecret_file = \"{secret}\"\n[storefronts.checkout.products.\"core\"]\nproduct = \"app\"\ntier = \"standard\"\n"
    );
    let checked = bootstrap::check(&config(&both).unwrap()).unwrap();
    let names: Vec<_> = checked.storefronts.iter().map(|storefront| storefront.adapter.name().to_owned()).collect();
    assert_eq!(names, ["gumroad", "checkout"]);

    let no_secret = with("seller_id = \"x\"");
    assert!(bootstrap::check(&config(&no_secret).unwrap()).err().unwrap().to_string().contains("secret"));
    let short = with("secret = \"short\"");
    assert!(bootstrap::check(&config(&short).unwrap()).err().unwrap().to_string().contains("16"));
    let unknown_tier = with(&format!(
        "secret_file = \"{secret}\"\n[storefronts.gumroad.products.\"p1\"]\nproduct = \"app\"\ntier = \"gold\"\n"
    ));
    let error = bootstrap::check(&config(&unknown_tier).unwrap()).err().unwrap().to_string();
    assert!(error.contains("gold") && error.contains("p1"), "{error}");
    let typo = with("secrets = \"x\"");
    assert!(config(&typo).unwrap_err().to_string().contains("secrets"));
}

#[test]
fn mail_takes_the_contract_sections_and_refuses_half_configurations() {
    let dir = tempfile::tempdir().unwrap();
    let base = production(dir.path(), 0o600, GOOD_TOKEN);
    let token = write(dir.path(), "postmark-token", "server-token-123\n", 0o600);
    let with = |mail: &str| format!("{base}\n{mail}\n");
    let check = |toml: &str| bootstrap::check(&config(toml).unwrap()).map(|checked| checked.mailer_description);

    // Contract §2, verbatim.
    let postmark = with(&format!(
        "[mail]\nprovider = \"postmark\"\nfrom = \"DataTools <licenses@example.com>\"\n[mail.postmark]\ntoken_file = \"{token}\"\nbase_url = \"https://api.postmarkapp.com\"\n"
    ));
    assert_eq!(check(&postmark).unwrap(), "postmark (https://api.postmarkapp.com)");
    assert!(!check(&postmark).unwrap().contains("server-token"), "the token is never shown");
    assert!(check(&with("[mail]\nprovider = \"log\"\n")).unwrap().starts_with("log"));
    assert!(check(&base).unwrap().starts_with("log"), "log is the default");

    let no_section = with("[mail]\nprovider = \"postmark\"\n");
    assert!(check(&no_section).unwrap_err().to_string().contains("[mail.postmark]"));
    let no_token = with("[mail]\nprovider = \"postmark\"\n[mail.postmark]\nbase_url = \"http://127.0.0.1:1\"\n");
    assert!(check(&no_token).unwrap_err().to_string().contains("token_file"));
    let bad_from = with("[mail]\nfrom = \"nobody\"\n");
    assert!(check(&bad_from).unwrap_err().to_string().contains("mail.from"));
    let bad_retry = with("[mail.retry]\ninitial_seconds = 0\n");
    assert!(check(&bad_retry).unwrap_err().to_string().contains("mail.retry"));
    let unused = with(&format!("[mail.postmark]\ntoken_file = \"{token}\"\n"));
    assert!(check(&unused).unwrap_err().to_string().contains("provider"));
    assert!(config(&with("[mail]\nprovder = \"log\"\n")).unwrap_err().to_string().contains("provder"));
    let from_env = Figment::new().merge(Toml::string(&base)).merge(("mail.retry.initial_seconds", 2));
    assert_eq!(Config::from_figment(from_env).unwrap().mail.retry.initial_seconds, 2);
}

#[test]
fn rate_limits_are_on_by_default_and_their_proxies_must_parse() {
    let dir = tempfile::tempdir().unwrap();
    let base = production(dir.path(), 0o600, GOOD_TOKEN);
    let check = |extra: &str| {
        bootstrap::check(&config(&format!("{base}\n{extra}\n")).unwrap()).map(|c| c.rate_limits.is_some())
    };
    assert!(check("").unwrap(), "on by default");
    assert!(!check("[rate_limits]\nenabled = false\n").unwrap(), "contract §2: enabled = false turns them off");
    assert!(check("[rate_limits]\ntrusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\", \"::1\"]\n").unwrap());
    let bad = check("[rate_limits]\ntrusted_proxies = [\"localhost\"]\n").err().unwrap().to_string();
    assert!(bad.contains("localhost"), "{bad}");
    let zero = check("[rate_limits]\nactivate_per_minute = 0\n").err().unwrap().to_string();
    assert!(zero.contains("at least 1"), "{zero}");
    // A shared budget: an unreachable Redis is no reason not to start (the
    // limits fall back); a URL that is not Redis's is.
    assert!(check("[rate_limits]\nredis_url = \"redis://127.0.0.1:1\"\n").unwrap());
    let not_redis = check("[rate_limits]\nredis_url = \"http://127.0.0.1:6379\"\n").err().unwrap().to_string();
    assert!(not_redis.contains("rate_limits.redis_url"), "{not_redis}");
}

#[test]
fn the_database_url_may_come_from_a_file_but_not_twice() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "database_url", "postgres://tessera:pw@db/tessera\n", 0o600);
    let from_file = config(&format!("[database]\nurl_file = \"{file}\"")).unwrap();
    assert_eq!(from_file.database.resolved_url().unwrap(), "postgres://tessera:pw@db/tessera");
    assert_eq!(config("").unwrap().database.resolved_url().unwrap(), "sqlite://tessera.db?mode=rwc");
    let both = config(&format!("[database]\nurl = \"postgres://a@b/c\"\nurl_file = \"{file}\"")).unwrap();
    assert!(matches!(both.database.resolved_url(), Err(ConfigError::SecretGivenTwice(name)) if name == "database.url"));
    let missing = config("[database]\nurl_file = \"/nonexistent/database_url\"").unwrap();
    assert!(matches!(missing.database.resolved_url(), Err(ConfigError::SecretFile { .. })));
}

#[test]
fn portal_links_and_renew_urls_are_checked_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let base = production(dir.path(), 0o600, &"t".repeat(40));
    let error = |toml: &str| bootstrap::check(&config(toml).unwrap()).err().map(|error| error.to_string());
    assert!(error(&format!("{base}\n[portal]\nlink_minutes = 1")).unwrap().contains("portal.link_minutes"));
    let bad_url = base.replace("key_prefix = \"APP\"", "key_prefix = \"APP\"\nrenew_url = \"javascript:alert(1)\"");
    assert!(error(&bad_url).unwrap().contains("renew_url"));
    let good_url =
        base.replace("key_prefix = \"APP\"", "key_prefix = \"APP\"\nrenew_url = \"https://shop.example.com/l/app\"");
    assert_eq!(error(&good_url), None);
}

/// `docs/configuration.md` shows every key in one example; it must be a
/// configuration the server accepts as it stands (unknown keys are errors, so a
/// documented key that does not exist fails here), with its secret files faked.
#[test]
fn the_documented_configuration_is_valid_as_written() {
    let doc = include_str!("../../../docs/configuration.md");
    let start = doc.find("```toml\n").expect("a TOML example") + "```toml\n".len();
    let example = &doc[start..start + doc[start..].find("```").unwrap()];
    let dir = tempfile::tempdir().unwrap();
    let mut toml = example.to_owned();
    for (name, contents) in [
        ("admin_token", GOOD_TOKEN.to_owned()),
        ("signing-2026-11.pem", generate_private_key_pem(None).unwrap()),
        ("postmark_token", "postmark-server-token".to_owned()),
        ("gumroad_secret", "gumroad-secret-0123456789".to_owned()),
        ("checkout_secret", "checkout-secret-0123456789".to_owned()),
        ("lemonsqueezy_secret", "lemonsqueezy-secret-0123456789".to_owned()),
        ("paddle_secret", "pdl_ntfset_01secret0123456789".to_owned()),
        ("paddle_api_key", "pdl_live_apikey_0123456789".to_owned()),
        ("stripe_secret", "whsec_stripe0123456789abcdef".to_owned()),
        ("stripe_api_key", "rk_live_0123456789abcdef".to_owned()),
        ("polar_secret", "whsec_cG9sYXItc2VjcmV0LTAxMjM0NTY3ODk=".to_owned()),
        ("s3_secret", "s3-secret-access-key-0123456789".to_owned()),
    ] {
        let path = write(dir.path(), name, &contents, 0o600);
        toml = toml.replace(&format!("/run/secrets/{name}"), &path);
    }
    let config = config(&toml).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(config.environment, Environment::Production);
    assert_eq!(config.server.max_connections, 4096);
    let checked = bootstrap::inspect(&config).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(checked.keyring.active().kid, "2026-11");
    assert_eq!(checked.catalog.products().count(), 1);
    let storefronts: Vec<_> = checked.storefronts.iter().map(|storefront| storefront.adapter.name()).collect();
    assert_eq!(storefronts, ["gumroad", "checkout", "lemonsqueezy", "paddle", "stripe", "polar"]);
}

/// Paddle and Stripe complete their events through their API: without a key
/// the server refuses to start, naming the key.
#[test]
fn a_storefront_that_asks_its_api_needs_an_api_key() {
    let toml = r#"
[storefronts.stripe]
secret = "whsec_stripe0123456789abcdef"
"#;
    let error = bootstrap::inspect(&config(toml).unwrap()).err().expect("refused").to_string();
    assert!(error.contains("storefronts.stripe needs api_key_file (or api_key)"), "{error}");
    let toml = format!("{toml}api_key = \"rk_test_0123456789\"\napi_base_url = \"api.stripe.com\"\n");
    let error = bootstrap::inspect(&config(&toml).unwrap()).err().expect("refused").to_string();
    assert!(error.contains("storefronts.stripe.api_base_url must start with http:// or https://"), "{error}");
}

/// Release storage: S3 needs its bucket section and a secret; the section
/// alone, with file storage, is a mistake worth naming; odd limits are refused.
#[test]
fn release_storage_is_checked_at_start_up() {
    let refused = |toml: &str| bootstrap::inspect(&config(toml).unwrap()).err().expect("refused").to_string();
    let error = refused("[releases]\nstorage = \"s3\"\n");
    assert!(error.contains("releases.storage = \"s3\" needs [releases.s3]"), "{error}");
    let section = "[releases.s3]\nbucket = \"b\"\naccess_key_id = \"AKIA\"\n";
    let error = refused(&format!("[releases]\nstorage = \"s3\"\n{section}"));
    assert!(error.contains("needs secret_access_key_file (or secret_access_key)"), "{error}");
    let error = refused(section);
    assert!(error.contains("[releases.s3] is set but releases.storage is not \"s3\""), "{error}");
    let error = refused("[releases]\nlink_minutes = 0\n");
    assert!(error.contains("releases.link_minutes must be 1-1440"), "{error}");
    let unknown = config("[releases]\nstorage = \"ftp\"\n").expect_err("refused").to_string();
    assert!(unknown.contains("ftp"), "{unknown}");
    let s3 = format!("[releases]\nstorage = \"s3\"\n{section}secret_access_key = \"secret\"\n");
    assert!(bootstrap::inspect(&config(&s3).unwrap()).is_ok(), "a complete S3 section starts");
}
