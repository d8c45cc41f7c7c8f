//! `tessera`: the operator's command line. Talks to the admin API over HTTP
//! (so it works through an SSH tunnel) and has local tools that need no server.

mod admin_api;
mod admin_client;
mod commands;
mod local;
mod machine;
mod output;
mod transfer;

use std::process::ExitCode;

use clap::Parser;

use commands::{Command, Connection, Session};

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

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.run(&Session::new(cli.connection, cli.json)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}
