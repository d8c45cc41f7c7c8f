//! The tables more than one console page shows: licenses, deliveries, audit
//! events, and how a license is linked and its status marked.

use maud::{html, Markup};
use tessera_domain::audit::AuditEvent;
use tessera_domain::license::{License, LicenseKey, LicenseStatus};
use tessera_domain::mail::{Delivery, DeliveryStatus};

use super::view::{csrf_field, date, date_time, segment};
use crate::console_sessions::Session;

pub fn status_class(status: LicenseStatus) -> &'static str {
    match status {
        LicenseStatus::Active => "status ok",
        LicenseStatus::Suspended | LicenseStatus::Expired => "status warn",
        LicenseStatus::Revoked => "status bad",
    }
}

pub fn license_href(key: &LicenseKey) -> String {
    format!("/console/licenses/{}", segment(key.as_str()))
}

pub fn license_link(key: &str) -> Markup {
    html! { a href=(format!("/console/licenses/{}", segment(key))) { code { (key) } } }
}

/// A license's or the outbox's deliveries, with a retry button on the failed ones.
pub fn deliveries_table(session: &Session, deliveries: &[Delivery], of_license: Option<&LicenseKey>) -> Markup {
    html! {
        @if deliveries.is_empty() { p { "No emails." } }
        @else {
            table.deliveries {
                thead { tr {
                    th scope="col" { "Queued" } th scope="col" { "Kind" } th scope="col" { "To" }
                    @if of_license.is_none() { th scope="col" { "License" } }
                    th scope="col" { "Status" } th scope="col" { "Attempts" } th scope="col" { "Last error" }
                    th scope="col" { span.visually-hidden { "Action" } }
                } }
                tbody {
                    @for delivery in deliveries {
                        tr {
                            td { (date_time(delivery.created_at)) }
                            td { (delivery.kind.as_str()) }
                            td { (delivery.to.as_str()) }
                            @if of_license.is_none() {
                                td { @if let Some(key) = &delivery.license_key { (license_link(key.as_str())) } }
                            }
                            td { span class=(format!("status {}", delivery.status.as_str())) { (delivery.status.as_str()) }
                                @if let Some(at) = delivery.sent_at { br; span.small { (date_time(at)) } } }
                            td { (delivery.attempts) }
                            td.wrap { (delivery.last_error.as_deref().unwrap_or("")) }
                            td {
                                @if delivery.status == DeliveryStatus::Failed {
                                    form method="post" action=(format!("/console/deliveries/{}/retry", delivery.id)) {
                                        (csrf_field(session))
                                        @if let Some(key) = of_license { input type="hidden" name="license" value=(key.as_str()); }
                                        button type="submit" { "Retry" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Audit events, newest first.
pub fn audit_table(events: &[AuditEvent]) -> Markup {
    html! {
        @if events.is_empty() { p { "Nothing recorded." } }
        @else {
            table.audit {
                thead { tr { th scope="col" { "When (UTC)" } th scope="col" { "Who" } th scope="col" { "What" }
                    th scope="col" { "Of" } th scope="col" { "Details" } } }
                tbody {
                    @for event in events {
                        tr {
                            td { (date_time(event.at)) }
                            td { (event.actor.to_string()) }
                            td { code { (event.action) } }
                            td {
                                @if event.entity_type == "license" { (license_link(&event.entity_id)) }
                                @else { (event.entity_type) " " (event.entity_id) }
                            }
                            td.wrap { code.small { (event.details.to_string()) } }
                        }
                    }
                }
            }
        }
    }
}

/// Licenses of a customer, newest first, as a table.
pub fn licenses_table(licenses: &[License], now: time::OffsetDateTime) -> Markup {
    html! {
        table.licenses {
            thead { tr { th scope="col" { "Key" } th scope="col" { "Product · tier" } th scope="col" { "Status" } th scope="col" { "Expires" } } }
            tbody {
                @for license in licenses {
                    @let status = license.status_at(now);
                    tr {
                        td { a href=(license_href(&license.key)) { code { (license.key.as_str()) } } }
                        td { (license.product) " · " (license.tier) }
                        td { span class=(status_class(status)) { (status.as_str()) } }
                        td { (date(license.expires_at, "never")) }
                    }
                }
            }
        }
    }
}
