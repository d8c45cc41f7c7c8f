//! Customers: list, add, show, change.

use clap::Subcommand;
use serde_json::json;

use super::{page_params, print_page_or_json, Session};
use crate::admin_api::{CustomerFilters, CustomerPatch};
use crate::admin_client::CliError;
use crate::output;

#[derive(Subcommand)]
pub enum CustomerAction {
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
pub enum CustomerCommand {
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
}

impl CustomerCommand {
    pub fn run(self, session: &Session) -> Result<(), CliError> {
        let json_output = session.json;
        match self {
            Self::Customers { query, limit, cursor } => {
                let page = session.client()?.customers(&CustomerFilters { q: query }, &page_params(limit, cursor))?;
                print_page_or_json(&page, json_output, output::print_customers);
                Ok(())
            }
            Self::Customer { action } => {
                let customer = match action {
                    CustomerAction::Show { email } => session.client()?.customer(&email)?,
                    CustomerAction::Add { email, name } => session.client()?.add_customer(&email, &name)?,
                    CustomerAction::Update { email, new_email, name } => {
                        session.client()?.update_customer(&email, &CustomerPatch { email: new_email, name })?
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
        }
    }
}
