//! `tessera client …`: the end-user flow of a desktop app, on the
//! `tessera-client` crate: activate this machine, show its status, check in,
//! release the seat.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::json;
use tessera_client::{Client, ClientConfig, ClientError, State, Status};

use crate::admin_client::CliError;
use crate::output::print_json;

#[derive(Args)]
pub struct MachineArgs {
    /// The server's public listener.
    #[arg(long, env = "TESSERA_PUBLIC_URL", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// Trusted public keys: a JWKS file or URL (default: the server's
    /// /.well-known/jwks.json, kept beside the cache so `status` works offline;
    /// a real app embeds them).
    #[arg(long)]
    jwks: Option<String>,
    /// Where the lease is kept.
    #[arg(long, default_value = "tessera-lease.json")]
    cache: PathBuf,
    /// This machine's fingerprint (default: derived from the OS machine id).
    #[arg(long)]
    fingerprint: Option<String>,
    /// The app version reported to the server.
    #[arg(long)]
    app_version: Option<String>,
    #[command(subcommand)]
    action: MachineAction,
}

#[derive(Subcommand)]
enum MachineAction {
    /// Activate this machine with a license key and cache the lease.
    Activate {
        key: String,
        /// With --email: checked against the license.
        #[arg(long, requires = "email")]
        name: Option<String>,
        #[arg(long, requires = "name")]
        email: Option<String>,
    },
    /// What the cached lease allows now (offline). Exit 0 when the app may run.
    Status,
    /// Renew the lease.
    Heartbeat,
    /// Print the cached lease token (for `Authorization: Bearer` on /v1/usage and /v1/flags).
    Lease,
    /// Release this machine's seat and forget the lease.
    Deactivate,
}

/// Where the server's public keys are kept beside the lease cache
/// (`tessera-lease.json` → `tessera-lease.jwks.json`), so that `status` works
/// offline like an app with embedded keys.
fn kept_jwks_path(cache: &std::path::Path) -> PathBuf {
    cache.with_extension("jwks.json")
}

/// The trusted keys: `--jwks`; else, offline, the ones kept beside the cache;
/// else (and always when online) the server's, which are then kept.
fn trusted_keys(args: &MachineArgs, online: bool) -> Result<String, CliError> {
    if let Some(source) = &args.jwks {
        return crate::local::read_jwks_text(source);
    }
    let kept = kept_jwks_path(&args.cache);
    if !online {
        if let Ok(jwks) = std::fs::read_to_string(&kept) {
            return Ok(jwks);
        }
    }
    let server = args.server.trim_end_matches('/');
    let jwks = tessera_client::fetch_jwks(server, std::time::Duration::from_secs(10)).map_err(failed)?;
    // Best effort: without it, `status` asks the server again.
    let _ = std::fs::write(&kept, &jwks);
    Ok(jwks)
}

fn client(args: &MachineArgs) -> Result<Client, CliError> {
    let server = args.server.trim_end_matches('/');
    let online = !matches!(args.action, MachineAction::Status | MachineAction::Lease);
    let jwks = trusted_keys(args, online)?;
    let fingerprint = args.fingerprint.clone().unwrap_or_else(|| tessera_client::machine_fingerprint("tessera-cli"));
    let mut config = ClientConfig::new(server, &jwks, &args.cache, fingerprint)
        .map_err(|error| CliError::Local(error.to_string()))?;
    if let Some(version) = &args.app_version {
        config = config.with_app_version(version);
    }
    Ok(Client::new(config))
}

fn failed(error: ClientError) -> CliError {
    match error {
        ClientError::Refused { status, code, message } => CliError::Server { status, code, message },
        ClientError::Unreachable(reason) => CliError::Unreachable { url: "the license server".into(), reason },
        ClientError::InvalidToken(reason) | ClientError::Untrusted(reason) => CliError::Invalid(reason),
        other => CliError::Local(other.to_string()),
    }
}

fn timestamp(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|at| at.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| unix.to_string())
}

fn print_status(status: &Status, json_output: bool) {
    let (state, detail) = match &status.state {
        State::Active { until } => ("active", json!({"until": timestamp(*until)})),
        State::InGrace { until } => ("in_grace", json!({"until": timestamp(*until)})),
        State::Expired { since } => ("expired", json!({"since": timestamp(*since)})),
        State::Invalid { reason } => ("invalid", json!({"reason": reason})),
    };
    let entitlements = status.entitlements.as_ref().map(|granted| {
        json!({"license_key": granted.license_key, "product": granted.product, "tier": granted.tier, "features": granted.features})
    });
    if json_output {
        print_json(&json!({"state": state, "detail": detail, "entitlements": entitlements, "notice": status.notice}));
        return;
    }
    let detail = detail
        .as_object()
        .and_then(|fields| fields.iter().next())
        .map(|(name, value)| format!(" ({name} {})", value.as_str().unwrap_or_default()));
    println!("{state}{}", detail.unwrap_or_default());
    if let Some(granted) = &status.entitlements {
        println!(
            "license {} · {} {} · features: {}",
            granted.license_key,
            granted.product,
            granted.tier,
            granted.features.join(", ")
        );
    }
    if let Some(notice) = &status.notice {
        println!("notice: {notice}");
    }
}

pub fn run(args: MachineArgs, json_output: bool) -> Result<(), CliError> {
    let client = client(&args)?;
    match &args.action {
        MachineAction::Activate { key, name, email } => {
            let identity = name.as_deref().zip(email.as_deref());
            let status = client.activate(key, identity).map_err(failed)?;
            print_status(&status, json_output);
            Ok(())
        }
        MachineAction::Status => {
            let status = client.status();
            print_status(&status, json_output);
            if status.allows_use() {
                Ok(())
            } else {
                Err(CliError::Invalid("this machine may not run the app now".into()))
            }
        }
        MachineAction::Lease => {
            println!("{}", client.lease().map_err(failed)?);
            Ok(())
        }
        MachineAction::Heartbeat => {
            let status = client.heartbeat().map_err(failed)?;
            print_status(&status, json_output);
            Ok(())
        }
        MachineAction::Deactivate => {
            client.deactivate().map_err(failed)?;
            let _ = std::fs::remove_file(kept_jwks_path(&args.cache));
            if json_output {
                print_json(&json!({"status": "deactivated"}));
            } else {
                println!("deactivated; the seat is free");
            }
            Ok(())
        }
    }
}
