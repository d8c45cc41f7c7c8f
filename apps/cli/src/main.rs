//! `tessera`: the operator's command line. Talks to the admin API over HTTP
//! (so it works through an SSH tunnel) and has local tools that need no server.

mod admin_api;
mod admin_client;
mod local;
mod machine;
mod output;
mod transfer;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::{json, Value};

use admin_api::{CustomerPatch, Lifecycle, MintRequest, PageParams, Query, RenewRequest, ReviewRequest};
use admin_client::{AdminClient, CliError};

#[derive(Parser)]
#[command(name = "tessera", version, about = "Operate a Tessera license server")]
struct Cli {
    #[command(flatten)]
    connection: Connection,
    /// Print JSON instead of tables (for scripts).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

/// How to reach the admin API. Given before the command (`tessera --token-file
/// F list`) or by environment: not global, so `tessera client` and the local
/// tools do not list options they never use.
#[derive(Args)]
struct Connection {
    /// The admin listener.
    #[arg(long, env = "TESSERA_ADMIN_URL", default_value = "http://127.0.0.1:8081")]
    url: String,
    /// The admin token (prefer --token-file: arguments show up in `ps`).
    #[arg(long, env = "TESSERA_ADMIN_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// A file holding the admin token (default: ./tessera-admin-token if present).
    #[arg(long, env = "TESSERA_ADMIN_TOKEN_FILE")]
    token_file: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Kind {
    /// Never expires.
    Perpetual,
    /// Renews with a storefront subscription.
    Subscription,
    /// A paid term that does not renew by itself.
    #[value(name = "fixed_term")]
    FixedTerm,
    Trial,
}

#[derive(Clone, Copy, ValueEnum)]
enum Status {
    Active,
    Suspended,
    Revoked,
    Expired,
}

#[derive(Clone, Copy, ValueEnum)]
enum DeliveryStatus {
    Pending,
    Sending,
    Sent,
    Failed,
}

#[derive(Clone, Copy, ValueEnum)]
enum FlagStatus {
    Open,
    Reviewed,
    Dismissed,
    Actioned,
}

#[derive(Subcommand)]
enum FlagAction {
    /// Close an open flag as reviewed, dismissed or actioned.
    Review {
        flag_id: String,
        #[arg(long, value_enum)]
        status: FlagStatus,
        /// What was done (required for actioned).
        #[arg(long)]
        action: Option<String>,
    },
}

#[derive(Subcommand)]
enum CustomerAction {
    /// A customer and their licenses.
    Show { email: String },
    /// Add a customer.
    Add {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
    },
    /// Change a customer's email or name; their licenses are re-signed with it.
    Update {
        email: String,
        #[arg(long = "email")]
        new_email: Option<String>,
        #[arg(long)]
        name: Option<String>,
    },
}

#[derive(Subcommand)]
enum Command {
    /// Mint a license and print (or save) its token.
    Mint {
        /// The product's slug, as configured in `[[products]]` (e.g. `demo`).
        #[arg(long)]
        product: String,
        /// The tier's slug within the product (e.g. `pro`).
        #[arg(long)]
        tier: String,
        /// The licensee's name, signed into the token.
        #[arg(long)]
        name: String,
        /// The licensee's email, signed into the token (and where `--send-email` sends it).
        #[arg(long)]
        email: String,
        /// Override the tier's seats.
        #[arg(long)]
        seats: Option<i64>,
        /// What the buyer has; default: perpetual, or fixed_term when the tier or `--days` sets an expiry.
        #[arg(long, value_enum)]
        kind: Option<Kind>,
        /// Term in days from now.
        #[arg(long, conflicts_with = "expires_at")]
        days: Option<i64>,
        /// Exact expiry, RFC 3339 (2027-01-31T00:00:00Z).
        #[arg(long)]
        expires_at: Option<String>,
        /// A custom key instead of a generated one (`[A-Z0-9-]`, 8-64 characters).
        #[arg(long)]
        key: Option<String>,
        /// A note for the operator (up to 2000 characters); not in the token.
        #[arg(long)]
        notes: Option<String>,
        /// Where the license came from (default `admin`), e.g. `gumroad` for a sale entered by hand.
        #[arg(long)]
        source: Option<String>,
        /// The source's own reference, e.g. an order number.
        #[arg(long)]
        source_ref: Option<String>,
        /// App major versions this license may activate, e.g. `2,3` (default: the tier's rule).
        #[arg(long, value_delimiter = ',')]
        app_versions: Option<Vec<u32>>,
        /// Makes the mint safe to retry: a repeat returns the first license.
        #[arg(long)]
        idempotency_key: Option<String>,
        /// Email the license to the buyer (once, also when the mint is repeated).
        #[arg(long)]
        send_email: bool,
        /// Write the token to this file (e.g. buyer.lic).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// List licenses, newest first.
    List {
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        product: Option<String>,
        #[arg(long, value_enum)]
        status: Option<Status>,
        #[arg(long)]
        source: Option<String>,
        /// Substring of key, name or email.
        #[arg(short, long)]
        query: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Continue from a previous page's cursor.
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Show one license and the machines holding its seats.
    Show { key: String },
    /// Free a machine's seat (the activation id is in `tessera show`).
    Deactivate { activation_id: String },
    /// Storefront webhook deliveries, newest first.
    Events {
        /// Only failed ones (to fix and replay).
        #[arg(long)]
        failed: bool,
        #[arg(long)]
        storefront: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Process a storefront delivery again (after fixing a product mapping, say).
    Replay { event_id: String },
    /// The email outbox, newest first.
    Deliveries {
        /// Only failed ones (to fix and retry).
        #[arg(long, conflicts_with = "status")]
        failed: bool,
        #[arg(long, value_enum)]
        status: Option<DeliveryStatus>,
        /// Only the emails of this license.
        #[arg(long)]
        license: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Send a failed delivery again now (the id is in `tessera deliveries`).
    RetryDelivery { delivery_id: String },
    /// Email a license to its buyer again.
    Redeliver { key: String },
    /// The end-user flow of a desktop app on this machine: activate, status, heartbeat, deactivate.
    Client(machine::MachineArgs),
    /// Revoke a license for good.
    Revoke {
        key: String,
        #[arg(long)]
        reason: String,
    },
    /// Suspend a license (undo with reinstate).
    Suspend { key: String },
    /// Reinstate a suspended license.
    Reinstate { key: String },
    /// Extend a license; its token is re-signed.
    Renew {
        key: String,
        #[arg(long, conflicts_with = "expires_at")]
        days: Option<i64>,
        #[arg(long)]
        expires_at: Option<String>,
    },
    /// The audit trail, newest first: who changed what, and when.
    Audit {
        /// Only the events of this license.
        #[arg(long)]
        license: Option<String>,
        /// Only events at or after this time (RFC 3339, e.g. 2026-11-01T00:00:00Z).
        #[arg(long)]
        since: Option<String>,
        /// `admin`, `buyer`, `system` or `storefront:gumroad`.
        #[arg(long)]
        actor: Option<String>,
        /// e.g. `license.revoked`.
        #[arg(long)]
        action: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Counts: licenses by product, tier, status and source; machines; the outbox; failed events.
    Stats,
    /// Import an issuance log (JSONL: license_key, name, email, tier, issued_at,
    /// expires_at[, blob]); keys and dates are kept, re-running skips what is in.
    Import {
        /// The file, or `-` for standard input.
        file: PathBuf,
        /// The product of records that name none.
        #[arg(long)]
        product: Option<String>,
        /// Check every line, write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Write every license as JSONL (the import format plus product, status and token).
    Export {
        #[arg(long)]
        product: Option<String>,
        #[arg(long, value_enum)]
        status: Option<Status>,
        #[arg(long)]
        source: Option<String>,
    },
    /// Usage events reported by activated machines, newest first.
    Usage {
        #[arg(long)]
        license: Option<String>,
        #[arg(long)]
        event: Option<String>,
        /// RFC 3339.
        #[arg(long)]
        since: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Flags raised by machines, newest first.
    Flags {
        #[arg(long, value_enum)]
        status: Option<FlagStatus>,
        #[arg(long)]
        license: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Act on one flag.
    Flag {
        #[command(subcommand)]
        action: FlagAction,
    },
    /// Customers (by email), ascending.
    Customers {
        /// Substring of email or name.
        #[arg(short, long)]
        query: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Add, show or change one customer.
    Customer {
        #[command(subcommand)]
        action: CustomerAction,
    },
    /// The server's signing keys: the active one and the retired ones (verify only).
    Keys,
    /// Generate an Ed25519 signing key (PKCS#8 PEM, mode 0600) and print its public JWK.
    Keygen {
        #[arg(long)]
        kid: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Verify a token offline against a JWKS; exit 0 when valid.
    Verify {
        /// The token, or a file holding it (e.g. buyer.lic).
        token: String,
        /// A JWKS file or URL (e.g. https://licenses.example.com/.well-known/jwks.json).
        #[arg(long)]
        jwks: String,
    },
}

fn run(cli: Cli) -> Result<(), CliError> {
    let json_output = cli.json;
    let client =
        || AdminClient::new(&cli.connection.url, cli.connection.token.clone(), cli.connection.token_file.clone());
    match cli.command {
        Command::Keygen { kid, out } => local::keygen(&kid, &out, json_output),
        Command::Verify { token, jwks } => local::verify(&token, &jwks, json_output),
        Command::Mint {
            product,
            tier,
            name,
            email,
            seats,
            kind,
            days,
            expires_at,
            key,
            notes,
            source,
            source_ref,
            app_versions,
            idempotency_key,
            send_email,
            output,
        } => {
            let request = MintRequest {
                product,
                tier,
                name,
                email,
                seats,
                kind: kind.map(value_name),
                duration_days: days,
                expires_at,
                key,
                notes,
                source,
                source_ref,
                app_versions,
                send_email,
            };
            let minted = client()?.mint(&request, idempotency_key.as_deref())?;
            let token = minted["token"].as_str().unwrap_or_default().to_owned();
            if let Some(path) = &output {
                std::fs::write(path, format!("{token}\n"))
                    .map_err(|error| CliError::Local(format!("{}: {error}", path.display())))?;
            }
            if json_output {
                output::print_json(&minted);
            } else {
                output::print_license(&minted["license"]);
                match &output {
                    Some(path) => println!("\nToken written to {}", path.display()),
                    None => println!("\nToken:\n{token}"),
                }
                if let Some(id) = minted["delivery"]["id"].as_str() {
                    println!("\nEmail queued to {} (delivery {id})", output::text(&minted["delivery"]["to"]));
                }
                if let Some(error) = minted["delivery_error"].as_str() {
                    eprintln!("warning: {error}; run `tessera redeliver` to send it");
                }
            }
            Ok(())
        }
        Command::List { email, product, status, source, query, limit, cursor } => {
            let filters = Query::default()
                .with("email", email)
                .with("product", product)
                .with("status", status.map(value_name))
                .with("source", source)
                .with("q", query);
            let page = client()?.licenses(filters, &page_params(limit, cursor))?;
            print_page_or_json(&page, json_output, output::print_license_table);
            Ok(())
        }
        Command::Show { key } => {
            let license = client()?.license(&key)?;
            show(&license, json_output)
        }
        Command::Deactivate { activation_id } => {
            let activation = client()?.deactivate_machine(&activation_id)?;
            if json_output {
                output::print_json(&activation);
            } else {
                output::print_machines(std::slice::from_ref(&activation));
            }
            Ok(())
        }
        Command::Client(args) => machine::run(args, json_output),
        Command::Events { failed, storefront, limit, cursor } => {
            let filters =
                Query::default().with("status", failed.then(|| "failed".to_owned())).with("storefront", storefront);
            let page = client()?.storefront_events(filters, &page_params(limit, cursor))?;
            print_page_or_json(&page, json_output, output::print_events);
            Ok(())
        }
        Command::Replay { event_id } => {
            let event = client()?.replay(&event_id)?;
            if json_output {
                output::print_json(&event);
            } else {
                output::print_events(&json!({ "items": [event], "next_cursor": null }));
            }
            // Replayed, but still not fulfilled: a script must see it.
            match event["status"].as_str() {
                Some("failed") => Err(CliError::Invalid(format!(
                    "the event still fails: {}",
                    event["error"].as_str().unwrap_or("no reason recorded")
                ))),
                _ => Ok(()),
            }
        }
        Command::Deliveries { failed, status, license, limit, cursor } => {
            let status = status.map(value_name).or_else(|| failed.then(|| "failed".to_owned()));
            let filters = Query::default().with("status", status).with("license_key", license);
            let page = client()?.deliveries(filters, &page_params(limit, cursor))?;
            print_page_or_json(&page, json_output, output::print_deliveries);
            Ok(())
        }
        Command::RetryDelivery { delivery_id } => {
            let delivery = client()?.retry_delivery(&delivery_id)?;
            print_delivery(&delivery, json_output);
            Ok(())
        }
        Command::Redeliver { key } => {
            let delivery = client()?.redeliver(&key)?;
            print_delivery(&delivery, json_output);
            Ok(())
        }
        Command::Audit { license, since, actor, action, limit, cursor } => {
            let filters = Query::default()
                .with("entity_id", license)
                .with("since", since)
                .with("actor", actor)
                .with("action", action);
            let page = client()?.audit(filters, &page_params(limit, cursor))?;
            print_page_or_json(&page, json_output, |page| {
                output::print_page(page, &["at", "actor", "action", "entity_type", "entity_id", "details"])
            });
            Ok(())
        }
        Command::Stats => {
            let stats = client()?.stats()?;
            if json_output {
                output::print_json(&stats);
            } else {
                output::print_stats(&stats);
            }
            Ok(())
        }
        Command::Import { file, product, dry_run } => {
            transfer::import(&client()?, &file, product.as_deref(), dry_run, json_output)
        }
        Command::Export { product, status, source } => {
            let filters =
                Query::default().with("product", product).with("status", status.map(value_name)).with("source", source);
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            let written = transfer::export(&client()?, &filters, &mut out)?;
            std::io::Write::flush(&mut out).map_err(|error| CliError::Local(error.to_string()))?;
            eprintln!("{written} licenses exported");
            Ok(())
        }
        Command::Usage { license, event, since, limit, cursor } => {
            let filters = Query::default().with("license_key", license).with("event", event).with("since", since);
            let page = client()?.usage(filters, &page_params(limit, cursor))?;
            print_page_or_json(&page, json_output, |page| {
                output::print_page(page, &["at", "license_key", "event", "metadata", "activation_id"])
            });
            Ok(())
        }
        Command::Flags { status, license, limit, cursor } => {
            let filters = Query::default().with("status", status.map(value_name)).with("license_key", license);
            let page = client()?.flags(filters, &page_params(limit, cursor))?;
            print_page_or_json(&page, json_output, output::print_flags);
            Ok(())
        }
        Command::Flag { action: FlagAction::Review { flag_id, status, action } } => {
            let flag = client()?.review_flag(&flag_id, &ReviewRequest { status: value_name(status), action })?;
            if json_output {
                output::print_json(&flag);
            } else {
                output::print_flags(&json!({ "items": [flag], "next_cursor": null }));
            }
            Ok(())
        }
        Command::Customers { query, limit, cursor } => {
            let page = client()?.customers(Query::default().with("q", query), &page_params(limit, cursor))?;
            print_page_or_json(&page, json_output, output::print_customers);
            Ok(())
        }
        Command::Customer { action } => {
            let customer = match action {
                CustomerAction::Show { email } => client()?.customer(&email)?,
                CustomerAction::Add { email, name } => client()?.add_customer(&email, &name)?,
                CustomerAction::Update { email, new_email, name } => {
                    client()?.update_customer(&email, &CustomerPatch { email: new_email, name })?
                }
            };
            if json_output {
                output::print_json(&customer);
            } else {
                output::print_customers(&json!({ "items": [customer], "next_cursor": null }));
                if let Some(licenses) = customer["licenses"].as_array() {
                    output::print_license_table(&json!({ "items": licenses, "next_cursor": null }));
                }
            }
            Ok(())
        }
        Command::Keys => {
            let page = client()?.keys()?;
            print_page_or_json(&page, json_output, |page| {
                output::print_page(page, &["kid", "status", "alg", "public_key"])
            });
            Ok(())
        }
        Command::Revoke { key, reason } => show(&client()?.revoke(&key, &reason)?, json_output),
        Command::Suspend { key } => show(&client()?.change(&key, Lifecycle::Suspend)?, json_output),
        Command::Reinstate { key } => show(&client()?.change(&key, Lifecycle::Reinstate)?, json_output),
        Command::Renew { key, days, expires_at } => {
            show(&client()?.renew(&key, &RenewRequest { duration_days: days, expires_at })?, json_output)
        }
    }
}

fn page_params(limit: u32, cursor: Option<String>) -> PageParams {
    PageParams { limit: Some(limit), cursor }
}

/// A clap value's name, as the API spells it (`fixed_term`, `failed`).
fn value_name(value: impl ValueEnum) -> String {
    value.to_possible_value().expect("named").get_name().to_owned()
}

fn print_page_or_json(page: &Value, json_output: bool, table: fn(&Value)) {
    if json_output {
        output::print_json(page);
    } else {
        table(page);
    }
}

fn print_delivery(delivery: &Value, json_output: bool) {
    if json_output {
        output::print_json(delivery);
    } else {
        output::print_deliveries(&json!({ "items": [delivery], "next_cursor": null }));
    }
}

fn show(license: &Value, json_output: bool) -> Result<(), CliError> {
    if json_output {
        output::print_json(license);
    } else {
        output::print_license(license);
        if let Some(machines) = license["activations"].as_array() {
            println!("\nMachines ({} of {} seats):", machines.len(), output::text(&license["seats"]));
            output::print_machines(machines);
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}
