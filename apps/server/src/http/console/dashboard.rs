//! `GET /console`: what sold, who activated, and what needs the operator.

use std::collections::BTreeMap;

use maud::{html, Markup};
use poem::http::StatusCode;
use poem::{handler, Request};
use tessera_domain::license::{LicenseFilter, LicenseStatus};
use tessera_domain::page::PageRequest;

use super::charts::{bar_chart, Bar};
use super::view::{html_response, layout, link, query, signed_in, PageResult, State};

/// Licenses expiring within this many days count as "expiring soon".
pub const EXPIRING_SOON_DAYS: i64 = 14;

/// Per product and tier: licenses by status.
type ByTier = BTreeMap<(String, String), BTreeMap<&'static str, u64>>;

const STATUSES: [LicenseStatus; 4] =
    [LicenseStatus::Active, LicenseStatus::Suspended, LicenseStatus::Expired, LicenseStatus::Revoked];

fn attention(count: u64, more: bool, what: &str, href: &str) -> Markup {
    html! {
        li.attention[count > 0] {
            a href=(href) { strong { (count) @if more { "+" } } " " (what) }
        }
    }
}

/// `GET /console?days=30|90`
#[handler]
pub async fn dashboard(state: State<'_>, request: &Request) -> PageResult {
    let session = signed_in(&state, request)?;
    let days: u16 = if query(request, "days").as_deref() == Some("90") { 90 } else { 30 };
    let report = state.reports.stats().await?;
    let series = state.reports.activity(days).await?;
    let now = report.as_of;
    let soon = LicenseFilter {
        expires_before: Some(now + time::Duration::days(EXPIRING_SOON_DAYS)),
        ..LicenseFilter::all(now)
    };
    let expiring =
        state.issuance.list(&soon, &PageRequest::first(100)).await.map_err(crate::http::errors::ReadFailure::from)?;
    let stats = &report.stats;

    let mut by_tier: ByTier = BTreeMap::new();
    for row in &stats.licenses {
        *by_tier.entry((row.product.clone(), row.tier.clone())).or_default().entry(row.status.as_str()).or_default() +=
            row.count;
    }
    let bars = |pick: fn(&tessera_domain::stats::DayCounts) -> u64| -> Vec<Bar> {
        series.iter().map(|day| Bar { label: day.day.to_string(), value: pick(day) }).collect()
    };
    let catalog = state.issuance.catalog();
    let product_name =
        |slug: &str| catalog.product(slug).map_or_else(|| slug.to_owned(), |product| product.name.clone());
    let body = html! {
        section aria-labelledby="attention-title" {
            h2 #attention-title { "Needs attention" }
            ul.attention-list {
                (attention(stats.events_failed, false, "failed storefront events", "/console/events?status=failed"))
                (attention(stats.events_unprocessed, false, "storefront events never processed", "/console/events?status=received"))
                (attention(stats.deliveries_failed, false, "failed deliveries", "/console/deliveries?status=failed"))
                (attention(stats.flags_open, false, "open usage flags", "/console/flags?status=open"))
                (attention(expiring.items.len() as u64, expiring.next_cursor.is_some(),
                    &format!("licenses expiring within {EXPIRING_SOON_DAYS} days"),
                    &link("/console/licenses", &[("expiring", Some(&EXPIRING_SOON_DAYS.to_string()))])))
            }
        }
        section aria-labelledby="activity-title" {
            h2 #activity-title { "Activity" }
            p.tabs {
                "Last "
                @for choice in [30u16, 90] {
                    @if choice == days { strong aria-current="true" { (choice) " days" } }
                    @else { a href=(format!("/console?days={choice}")) { (choice) " days" } }
                    " "
                }
                span.small { "(UTC days; today is the last bar)" }
            }
            (bar_chart("chart-sales", "Sales", "sales", "sales", &bars(|day| day.sales)))
            (bar_chart("chart-mints", "Licenses minted", "mints", "mints", &bars(|day| day.mints)))
            (bar_chart("chart-activations", "Machines activated", "activations", "activations", &bars(|day| day.activations)))
        }
        section aria-labelledby="licenses-title" {
            h2 #licenses-title { "Licenses by product and tier" }
            p { strong #active-machines { (stats.active_machines) } " machines hold a seat now · "
                (stats.minted_last_24h) " licenses minted in the last 24 hours, " (stats.minted_last_30d) " in 30 days." }
            @if by_tier.is_empty() {
                p { "No licenses yet. " a href="/console/licenses/new" { "Mint one" } "." }
            } @else {
                table #licenses-by-tier {
                    thead { tr {
                        th scope="col" { "Product" } th scope="col" { "Tier" }
                        @for status in STATUSES { th scope="col" { (status.as_str()) } }
                    } }
                    tbody {
                        @for ((product, tier), counts) in &by_tier {
                            tr {
                                th scope="row" { (product_name(product)) }
                                td { (tier) }
                                @for status in STATUSES {
                                    @let count = counts.get(status.as_str()).copied().unwrap_or(0);
                                    td { a href=(link("/console/licenses", &[("product", Some(product)), ("status", Some(status.as_str()))])) { (count) } }
                                }
                            }
                        }
                    }
                }
            }
            p.small { "Deliveries: " (stats.deliveries_pending) " pending, " (stats.deliveries_sent) " sent, "
                (stats.deliveries_failed) " failed. As of " (super::view::date_time(now)) " UTC." }
        }
    };
    Ok(html_response(StatusCode::OK, layout("/console", "Dashboard", &session, None, body)))
}
