//! Licenses: mint, look up, change, email, import and export.

use std::path::PathBuf;

use clap::{Subcommand, ValueEnum};
use serde_json::Value;

use super::{page_params, print_delivery, print_page_or_json, value_name, Session};
use crate::admin_api::{LicenseFilters, Lifecycle, MintRequest, RenewRequest};
use crate::admin_client::CliError;
use crate::{output, transfer};

#[derive(Clone, Copy, ValueEnum)]
pub enum Kind {
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
pub enum Status {
    Active,
    Suspended,
    Revoked,
    Expired,
}

#[derive(Subcommand)]
pub enum LicenseCommand {
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
    /// Email a license to its buyer again.
    Redeliver { key: String },
    /// Free a machine's seat (the activation id is in `tessera show`).
    Deactivate { activation_id: String },
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
}

impl LicenseCommand {
    pub fn run(self, session: &Session) -> Result<(), CliError> {
        let json_output = session.json;
        match self {
            Self::Mint {
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
                let minted = session.client()?.mint(&request, idempotency_key.as_deref())?;
                let token = &minted.token;
                if let Some(path) = &output {
                    std::fs::write(path, format!("{token}\n"))
                        .map_err(|error| CliError::Local(format!("{}: {error}", path.display())))?;
                }
                if json_output {
                    output::print_json(&serde_json::to_value(&minted).expect("an answer serializes"));
                } else {
                    output::print_license(&minted.license);
                    match &output {
                        Some(path) => println!("\nToken written to {}", path.display()),
                        None => println!("\nToken:\n{token}"),
                    }
                    if let Some(delivery) = &minted.delivery {
                        println!("\nEmail queued to {} (delivery {})", delivery.to, delivery.id);
                    }
                    if let Some(error) = &minted.delivery_error {
                        eprintln!("warning: {error}; run `tessera redeliver` to send it");
                    }
                }
                Ok(())
            }
            Self::List { email, product, status, source, query, limit, cursor } => {
                let filters = LicenseFilters { email, product, status: status.map(value_name), source, q: query };
                let page = session.client()?.licenses(&filters, &page_params(limit, cursor))?;
                print_page_or_json(&page, json_output, output::print_license_table);
                Ok(())
            }
            Self::Show { key } => {
                let license = session.client()?.license(&key)?;
                show(&license, json_output)
            }
            Self::Revoke { key, reason } => show(&session.client()?.revoke(&key, &reason)?, json_output),
            Self::Suspend { key } => show(&session.client()?.change(&key, Lifecycle::Suspend)?, json_output),
            Self::Reinstate { key } => show(&session.client()?.change(&key, Lifecycle::Reinstate)?, json_output),
            Self::Renew { key, days, expires_at } => {
                show(&session.client()?.renew(&key, &RenewRequest { duration_days: days, expires_at })?, json_output)
            }
            Self::Redeliver { key } => {
                let delivery = session.client()?.redeliver(&key)?;
                print_delivery(&delivery, json_output);
                Ok(())
            }
            Self::Deactivate { activation_id } => {
                let activation = session.client()?.deactivate_machine(&activation_id)?;
                if json_output {
                    output::print_json(&activation);
                } else {
                    output::print_machines(std::slice::from_ref(&activation));
                }
                Ok(())
            }
            Self::Import { file, product, dry_run } => {
                transfer::import(&session.client()?, &file, product.as_deref(), dry_run, json_output)
            }
            Self::Export { product, status, source } => {
                let filters =
                    LicenseFilters { product, status: status.map(value_name), source, ..LicenseFilters::default() };
                let stdout = std::io::stdout();
                let mut out = std::io::BufWriter::new(stdout.lock());
                let written = transfer::export(&session.client()?, &filters, &mut out)?;
                std::io::Write::flush(&mut out).map_err(|error| CliError::Local(error.to_string()))?;
                eprintln!("{written} licenses exported");
                Ok(())
            }
        }
    }
}

/// A license and the machines holding its seats (or its JSON).
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
