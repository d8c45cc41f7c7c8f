//! Storefront webhook deliveries: list and replay.

use clap::Subcommand;
use serde_json::json;

use super::{page_params, print_page_or_json, Session};
use crate::admin_api::EventFilters;
use crate::admin_client::CliError;
use crate::output;

#[derive(Subcommand)]
pub enum EventCommand {
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
}

impl EventCommand {
    pub fn run(self, session: &Session) -> Result<(), CliError> {
        let json_output = session.json;
        match self {
            Self::Events { failed, storefront, limit, cursor } => {
                let filters = EventFilters { status: failed.then(|| "failed".to_owned()), storefront };
                let page = session.client()?.storefront_events(&filters, &page_params(limit, cursor))?;
                print_page_or_json(&page, json_output, output::print_events);
                Ok(())
            }
            Self::Replay { event_id } => {
                let replayed = session.client()?.replay(&event_id)?;
                let event = serde_json::to_value(&replayed).expect("an answer serializes");
                if json_output {
                    output::print_json(&event);
                } else {
                    output::print_events(&json!({ "items": [event], "next_cursor": null }));
                }
                // Replayed, but still not fulfilled: a script must see it.
                match replayed.status.as_str() {
                    "failed" => Err(CliError::Invalid(format!(
                        "the event still fails: {}",
                        replayed.error.as_deref().unwrap_or("no reason recorded")
                    ))),
                    _ => Ok(()),
                }
            }
        }
    }
}
