//! Flags raised by machines: list and review.

use clap::{Subcommand, ValueEnum};
use serde_json::json;

use super::{page_params, print_page_or_json, value_name, Session};
use crate::admin_api::{FlagFilters, ReviewRequest};
use crate::admin_client::CliError;
use crate::output;

#[derive(Clone, Copy, ValueEnum)]
pub enum FlagStatus {
    Open,
    Reviewed,
    Dismissed,
    Actioned,
}

#[derive(Subcommand)]
pub enum FlagAction {
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
pub enum FlagCommand {
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
}

impl FlagCommand {
    pub fn run(self, session: &Session) -> Result<(), CliError> {
        let json_output = session.json;
        match self {
            Self::Flags { status, license, limit, cursor } => {
                let filters = FlagFilters { status: status.map(value_name), license_key: license };
                let page = session.client()?.flags(&filters, &page_params(limit, cursor))?;
                print_page_or_json(&page, json_output, output::print_flags);
                Ok(())
            }
            Self::Flag { action: FlagAction::Review { flag_id, status, action } } => {
                let flag =
                    session.client()?.review_flag(&flag_id, &ReviewRequest { status: value_name(status), action })?;
                if json_output {
                    output::print_json(&flag);
                } else {
                    output::print_flags(&json!({ "items": [flag], "next_cursor": null }));
                }
                Ok(())
            }
        }
    }
}
