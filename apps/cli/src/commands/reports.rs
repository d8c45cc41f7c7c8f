//! Read-only views: the audit trail, usage events and counts.

use clap::Subcommand;

use super::{page_params, print_page_or_json, Session};
use crate::admin_api::{AuditFilters, UsageFilters};
use crate::admin_client::CliError;
use crate::output;

#[derive(Subcommand)]
pub enum ReportCommand {
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
    /// Counts: licenses by product, tier, status and source; machines; the outbox; failed events.
    Stats,
}

impl ReportCommand {
    pub fn run(self, session: &Session) -> Result<(), CliError> {
        let json_output = session.json;
        match self {
            Self::Audit { license, since, actor, action, limit, cursor } => {
                let filters = AuditFilters { entity_id: license, since, actor, action };
                let page = session.client()?.audit(&filters, &page_params(limit, cursor))?;
                print_page_or_json(&page, json_output, |page| output::print_page(page, &output::AUDIT));
                Ok(())
            }
            Self::Usage { license, event, since, limit, cursor } => {
                let filters = UsageFilters { license_key: license, event, since };
                let page = session.client()?.usage(&filters, &page_params(limit, cursor))?;
                print_page_or_json(&page, json_output, |page| output::print_page(page, &output::USAGE));
                Ok(())
            }
            Self::Stats => {
                let stats = session.client()?.stats()?;
                if json_output {
                    output::print_json(&stats);
                } else {
                    output::print_stats(&stats);
                }
                Ok(())
            }
        }
    }
}
