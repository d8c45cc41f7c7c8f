//! The commands, one module per group of the admin API they drive. Each
//! group is a clap subcommand enum flattened into [`Command`], so the command
//! line stays flat (`tessera mint`, `tessera events`).

mod customers;
mod deliveries;
mod flags;
mod keys;
mod licenses;
mod releases;
mod reports;
mod storefront_events;

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use serde_json::{json, Value};

use crate::admin_api::PageParams;
use crate::admin_client::{AdminClient, CliError};
use crate::{machine, output};

/// How to reach the admin API. Given before the command (`tessera --token-file
/// F list`) or by environment: not global, so `tessera client` and the local
/// tools do not list options they never use.
#[derive(Args)]
pub struct Connection {
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

#[derive(Subcommand)]
pub enum Command {
    #[command(flatten)]
    Licenses(licenses::LicenseCommand),
    #[command(flatten)]
    Customers(customers::CustomerCommand),
    #[command(flatten)]
    Events(storefront_events::EventCommand),
    #[command(flatten)]
    Deliveries(deliveries::DeliveryCommand),
    #[command(flatten)]
    Reports(reports::ReportCommand),
    #[command(flatten)]
    Flags(flags::FlagCommand),
    #[command(flatten)]
    Keys(keys::KeyCommand),
    /// Releases and their files: create, upload, publish, yank, list, show.
    Release(releases::ReleaseArgs),
    /// The end-user flow of a desktop app on this machine: activate, status, heartbeat, deactivate.
    Client(machine::MachineArgs),
}

/// What every command gets: where the admin API is and how to print.
pub struct Session {
    connection: Connection,
    pub json: bool,
}

impl Session {
    pub fn new(connection: Connection, json: bool) -> Self {
        Self { connection, json }
    }

    /// A client for the admin API; commands that need none never ask, so a
    /// missing token only fails the commands that use it.
    pub fn client(&self) -> Result<AdminClient, CliError> {
        let connection = &self.connection;
        AdminClient::new(&connection.url, connection.token.clone(), connection.token_file.clone())
    }
}

impl Command {
    pub fn run(self, session: &Session) -> Result<(), CliError> {
        match self {
            Self::Licenses(command) => command.run(session),
            Self::Customers(command) => command.run(session),
            Self::Events(command) => command.run(session),
            Self::Deliveries(command) => command.run(session),
            Self::Reports(command) => command.run(session),
            Self::Flags(command) => command.run(session),
            Self::Keys(command) => command.run(session),
            Self::Release(args) => args.run(session),
            Self::Client(args) => machine::run(args, session.json),
        }
    }
}

pub fn page_params(limit: u32, cursor: Option<String>) -> PageParams {
    PageParams { limit: Some(limit), cursor }
}

/// A clap value's name, as the API spells it (`fixed_term`, `failed`).
pub fn value_name(value: impl ValueEnum) -> String {
    value.to_possible_value().expect("named").get_name().to_owned()
}

pub fn print_page_or_json(page: &Value, json_output: bool, table: fn(&Value)) {
    if json_output {
        output::print_json(page);
    } else {
        table(page);
    }
}

pub fn print_delivery(delivery: &Value, json_output: bool) {
    if json_output {
        output::print_json(delivery);
    } else {
        output::print_deliveries(&json!({ "items": [delivery], "next_cursor": null }));
    }
}
