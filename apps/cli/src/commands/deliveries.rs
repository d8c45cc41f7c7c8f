//! The email outbox: list and retry.

use clap::{Subcommand, ValueEnum};

use super::{page_params, print_delivery, print_page_or_json, value_name, Session};
use crate::admin_api::DeliveryFilters;
use crate::admin_client::CliError;
use crate::output;

#[derive(Clone, Copy, ValueEnum)]
pub enum DeliveryStatus {
    Pending,
    Sending,
    Sent,
    Failed,
}

#[derive(Subcommand)]
pub enum DeliveryCommand {
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
}

impl DeliveryCommand {
    pub fn run(self, session: &Session) -> Result<(), CliError> {
        let json_output = session.json;
        match self {
            Self::Deliveries { failed, status, license, limit, cursor } => {
                let status = status.map(value_name).or_else(|| failed.then(|| "failed".to_owned()));
                let filters = DeliveryFilters { status, license_key: license };
                let page = session.client()?.deliveries(&filters, &page_params(limit, cursor))?;
                print_page_or_json(&page, json_output, output::print_deliveries);
                Ok(())
            }
            Self::RetryDelivery { delivery_id } => {
                let delivery = session.client()?.retry_delivery(&delivery_id)?;
                print_delivery(&delivery, json_output);
                Ok(())
            }
        }
    }
}
