//! The operator's other records: customers, storefront events (replay),
//! deliveries (retry), the audit trail, usage flags (review), signing keys.

use maud::{html, Markup};
use poem::http::StatusCode;
use poem::web::Path;
use poem::{handler, Body, Request};
use tessera_domain::audit::{Actor, AuditFilter};
use tessera_domain::customer::CustomerFilter;
use tessera_domain::license::{EmailAddress, LicenseKey};
use tessera_domain::mail::{DeliveryFilter, DeliveryStatus};
use tessera_domain::page::PageRequest;
use tessera_domain::storefront::{EventFilter, EventStatus};
use tessera_domain::usage::{FlagFilter, FlagStatus, ReviewFlagError, UsageFilter};
use time::OffsetDateTime;
use uuid::Uuid;

use super::tables::{audit_table, deliveries_table, license_link, licenses_table};
use super::view::{
    csrf_field, date_time, html_response, layout, link, next_page, parse_choice, posted, query, see_other, segment,
    signed_in, ConsoleError, PageResult, State,
};
use crate::console_sessions::Session;
use crate::http::errors::{ChangeFailure, ShowFailure};

const PAGE_SIZE: u32 = 50;

/// A page of these records, with the notice its `?done=` names (after an action).
fn with_notice(request: &Request, section: &str, title: &str, session: &Session, body: Markup) -> PageResult {
    let notice = notice(query(request, "done").as_deref());
    Ok(html_response(StatusCode::OK, layout(section, title, session, notice, body)))
}

fn notice(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "replayed" => "Replayed; the event's status below is the new outcome.",
        "retried" => "Queued again; the outbox sends it shortly.",
        "reviewed" => "Flag closed.",
        _ => return None,
    })
}

fn tabs(path: &str, current: Option<&str>, choices: &[&str]) -> Markup {
    html! {
        nav.tabs aria-label="Filter by status" {
            @if current.is_none() { strong aria-current="true" { "All" } } @else { a href=(path) { "All" } }
            @for choice in choices {
                " "
                @if current == Some(*choice) { strong aria-current="true" { (choice) } }
                @else { a href=(link(path, &[("status", Some(choice))])) { (choice) } }
            }
        }
    }
}

/// `GET /console/customers?q=`
#[handler]
pub async fn customers_page(state: State<'_>, request: &Request) -> PageResult {
    let session = signed_in(&state, request)?;
    let (q, cursor) = (query(request, "q"), query(request, "cursor"));
    let page =
        state.customers.list(&CustomerFilter { query: q.clone() }, &PageRequest::new(Some(PAGE_SIZE), cursor)).await?;
    let body = html! {
        form.search method="get" action="/console/customers" role="search" {
            div.field { label for="q" { "Email or name" } input #q type="search" name="q" value=[q.as_deref()]; }
            button type="submit" { "Search" }
        }
        @if page.items.is_empty() { p { "No customers match." } }
        @else {
            table #customers {
                thead { tr { th scope="col" { "Email" } th scope="col" { "Name" } th scope="col" { "Licenses" } th scope="col" { "Since" } } }
                tbody {
                    @for customer in &page.items {
                        tr {
                            td { a href=(format!("/console/customers/{}", segment(customer.email.as_str()))) { (customer.email.as_str()) } }
                            td { (customer.name.as_str()) }
                            td { (customer.licenses) }
                            td { (date_time(customer.created_at)) }
                        }
                    }
                }
            }
        }
        (next_page("/console/customers", &[("q", q.as_deref())], page.next_cursor.as_deref()))
    };
    Ok(html_response(StatusCode::OK, layout("/console/customers", "Customers", &session, None, body)))
}

/// `GET /console/customers/{email}`
#[handler]
pub async fn customer_page(state: State<'_>, request: &Request, Path(email): Path<String>) -> PageResult {
    let session = signed_in(&state, request)?;
    let email = EmailAddress::parse(&email).map_err(|_| ConsoleError::not_found(format!("no customer {email}")))?;
    let customer = state.customers.get(&email).await.map_err(ShowFailure::from)?;
    let licenses = state.customers.licenses_of(&email).await?;
    let body = html! {
        dl.card {
            dt { "Name" } dd { (customer.name.as_str()) }
            dt { "Email" } dd { (customer.email.as_str()) }
            dt { "Customer since" } dd { (date_time(customer.created_at)) }
        }
        h2 { "Licenses" }
        (licenses_table(&licenses, state.now()))
        p { a.button.secondary href=(link("/console/audit", &[("entity", Some(customer.email.as_str()))])) { "Audit trail of this customer" } }
    };
    let title = format!("Customer {}", customer.name.as_str());
    Ok(html_response(StatusCode::OK, layout("/console/customers", &title, &session, None, body)))
}

fn events_table(id: &str, events: &[tessera_domain::storefront::RecordedEvent]) -> Markup {
    html! {
        table id=(id) {
            thead { tr { th scope="col" { "Received (UTC)" } th scope="col" { "Storefront" } th scope="col" { "Kind" }
                th scope="col" { "Status" } th scope="col" { "License" } th scope="col" { "Error" } } }
            tbody {
                @for event in events {
                    tr {
                        td { a href=(format!("/console/events/{}", event.id)) { (date_time(event.received_at)) } }
                        td { (event.storefront) }
                        td { (event.kind.as_deref().unwrap_or("?")) }
                        td { span class=(format!("status {}", event.status.as_str())) { (event.status.as_str()) } }
                        td { @if let Some(key) = &event.license_key { (license_link(key)) } }
                        td.wrap { (event.error.as_deref().unwrap_or("")) }
                    }
                }
            }
        }
    }
}

/// `GET /console/events?status=&storefront=`: unfiltered, the failed ones
/// come first, then every event newest first.
#[handler]
pub async fn events_page(state: State<'_>, request: &Request) -> PageResult {
    let session = signed_in(&state, request)?;
    let (status, storefront, cursor) =
        (query(request, "status"), query(request, "storefront"), query(request, "cursor"));
    let parsed: Option<EventStatus> = status.as_deref().map(|text| parse_choice(text, "event status")).transpose()?;
    let filter = EventFilter { storefront: storefront.clone(), status: parsed };
    let first_page = cursor.is_none();
    let page = state.reports.storefront_events(&filter, &PageRequest::new(Some(PAGE_SIZE), cursor)).await?;
    let failed = if parsed.is_none() && first_page {
        let failed = EventFilter { storefront: storefront.clone(), status: Some(EventStatus::Failed) };
        state.reports.storefront_events(&failed, &PageRequest::first(PAGE_SIZE)).await?
    } else {
        tessera_domain::page::Page { items: vec![], next_cursor: None }
    };
    let body = html! {
        p { "Every storefront webhook, exactly as received. A failed one (a missing product mapping, say) can be replayed \
             once the cause is fixed: a sale still mints once." }
        (tabs("/console/events", status.as_deref(), &["failed", "received", "processed", "duplicate", "ignored"]))
        @if !failed.items.is_empty() {
            h2 { "Failed: to fix and replay" }
            (events_table("failed-events", &failed.items))
            @if failed.next_cursor.is_some() { p { a href="/console/events?status=failed" { "All failed events →" } } }
            h2 { "All events" }
        }
        @if page.items.is_empty() { p #no-events { "No events." } }
        @else { (events_table("events", &page.items)) }
        (next_page("/console/events", &[("status", status.as_deref()), ("storefront", storefront.as_deref())], page.next_cursor.as_deref()))
    };
    with_notice(request, "/console/events", "Storefront events", &session, body)
}

fn parse_id(text: &str, what: &str) -> Result<Uuid, ConsoleError> {
    Uuid::parse_str(text).map_err(|_| ConsoleError::not_found(format!("no {what} {text}")))
}

/// `GET /console/events/{id}`: the payload and the replay button.
#[handler]
pub async fn event_page(state: State<'_>, request: &Request, Path(id): Path<String>) -> PageResult {
    let session = signed_in(&state, request)?;
    let uuid = parse_id(&id, "storefront event")?;
    let event = state
        .reports
        .storefront_event(uuid)
        .await?
        .ok_or_else(|| ConsoleError::not_found(format!("no storefront event {id}")))?;
    let body_text = String::from_utf8_lossy(&event.body);
    let pretty = serde_json::from_slice::<serde_json::Value>(&event.body)
        .ok()
        .and_then(|value| serde_json::to_string_pretty(&value).ok());
    let body = html! {
        dl.card {
            dt { "Storefront" } dd { (event.storefront) }
            dt { "Received" } dd { (date_time(event.received_at)) " UTC" }
            dt { "Status" } dd { span #event-status class=(format!("status {}", event.status.as_str())) { (event.status.as_str()) } }
            dt { "Kind" } dd { (event.kind.as_deref().unwrap_or("not parsed")) }
            dt { "Attempts" } dd { (event.attempts) }
            @if let Some(at) = event.processed_at { dt { "Processed" } dd { (date_time(at)) " UTC" } }
            @if let Some(key) = &event.license_key { dt { "License" } dd { (license_link(key)) } }
            @if let Some(error) = &event.error { dt { "Error" } dd.error { (error) } }
            @if !event.query.is_empty() { dt { "Query (secrets removed)" } dd { code { (event.query) } } }
        }
        form method="post" action=(format!("/console/events/{}/replay", event.id)) {
            (csrf_field(&session))
            button type="submit" { "Replay this event" }
        }
        h2 { "Payload" }
        pre.payload { (pretty.as_deref().unwrap_or(&body_text)) }
    };
    with_notice(request, "/console/events", "Storefront event", &session, body)
}

/// `POST /console/events/{id}/replay`
#[handler]
pub async fn replay_event(state: State<'_>, request: &Request, Path(id): Path<String>, body: Body) -> PageResult {
    posted(&state, request, body).await?;
    let uuid = parse_id(&id, "storefront event")?;
    state.fulfillment.replay(uuid).await.map_err(ShowFailure::from)?;
    Ok(see_other(&format!("/console/events/{uuid}?done=replayed")))
}

/// `GET /console/deliveries?status=`
#[handler]
pub async fn deliveries_page(state: State<'_>, request: &Request) -> PageResult {
    let session = signed_in(&state, request)?;
    let (status, cursor) = (query(request, "status"), query(request, "cursor"));
    let parsed: Option<DeliveryStatus> =
        status.as_deref().map(|text| parse_choice(text, "delivery status")).transpose()?;
    let filter = DeliveryFilter { status: parsed, license_key: None };
    let page = state.outbox.list(&filter, &PageRequest::new(Some(PAGE_SIZE), cursor)).await?;
    let body = html! {
        p { "The outbox: every email owed, sent or given up on. A failed one is retried from here once the cause \
             (a bounced address, a mail provider outage) is fixed." }
        (tabs("/console/deliveries", status.as_deref(), &["failed", "pending", "sending", "sent"]))
        (deliveries_table(&session, &page.items, None))
        (next_page("/console/deliveries", &[("status", status.as_deref())], page.next_cursor.as_deref()))
    };
    with_notice(request, "/console/deliveries", "Deliveries", &session, body)
}

/// `POST /console/deliveries/{id}/retry`
#[handler]
pub async fn retry_delivery(state: State<'_>, request: &Request, Path(id): Path<String>, body: Body) -> PageResult {
    let (_, form) = posted(&state, request, body).await?;
    let uuid = parse_id(&id, "delivery")?;
    state.outbox.retry(uuid, Actor::Admin).await.map_err(ChangeFailure::from)?;
    Ok(match form.get("license").map(LicenseKey::parse) {
        Some(Ok(key)) => see_other(&format!("/console/licenses/{}?done=retried", segment(key.as_str()))),
        _ => see_other("/console/deliveries?done=retried"),
    })
}

fn parse_time(text: Option<&str>, what: &str) -> Result<Option<OffsetDateTime>, ConsoleError> {
    let Some(text) = text else { return Ok(None) };
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text, &format)
        .map(|date| Some(date.midnight().assume_utc()))
        .map_err(|_| ConsoleError::bad_request(format!("{what} is a date like 2026-12-01")))
}

/// `GET /console/audit?actor=&action=&entity=&since=&until=`
#[handler]
pub async fn audit_page(state: State<'_>, request: &Request) -> PageResult {
    let session = signed_in(&state, request)?;
    let (actor, action, entity, since, until, cursor) = (
        query(request, "actor"),
        query(request, "action"),
        query(request, "entity"),
        query(request, "since"),
        query(request, "until"),
        query(request, "cursor"),
    );
    let filter = AuditFilter {
        entity_type: None,
        entity_id: entity.clone(),
        actor: actor.clone(),
        action: action.clone(),
        since: parse_time(since.as_deref(), "from")?,
        // Through the whole `until` day.
        until: parse_time(until.as_deref(), "to")?.map(|day| day + time::Duration::days(1)),
    };
    let page = state.reports.audit(&filter, &PageRequest::new(Some(PAGE_SIZE), cursor)).await?;
    let pairs = [
        ("actor", actor.as_deref()),
        ("action", action.as_deref()),
        ("entity", entity.as_deref()),
        ("since", since.as_deref()),
        ("until", until.as_deref()),
    ];
    let body = html! {
        form.search method="get" action="/console/audit" role="search" {
            div.field { label for="actor" { "Who" } input #actor name="actor" value=[actor.as_deref()] placeholder="admin, storefront:gumroad, buyer, system"; }
            div.field { label for="action" { "What" } input #action name="action" value=[action.as_deref()] placeholder="license.revoked"; }
            div.field { label for="entity" { "License key, email or id" } input #entity name="entity" value=[entity.as_deref()]; }
            div.field { label for="since" { "From (UTC day)" } input #since name="since" type="date" value=[since.as_deref()]; }
            div.field { label for="until" { "To (UTC day)" } input #until name="until" type="date" value=[until.as_deref()]; }
            button type="submit" { "Filter" }
        }
        (audit_table(&page.items))
        (next_page("/console/audit", &pairs, page.next_cursor.as_deref()))
    };
    Ok(html_response(StatusCode::OK, layout("/console/audit", "Audit trail", &session, None, body)))
}

/// `GET /console/flags?status=` (open by default) and the latest usage events.
#[handler]
pub async fn flags_page(state: State<'_>, request: &Request) -> PageResult {
    let session = signed_in(&state, request)?;
    let (status, cursor) = (query(request, "status"), query(request, "cursor"));
    let parsed: Option<FlagStatus> = status.as_deref().map(|text| parse_choice(text, "flag status")).transpose()?;
    let page = state
        .usage
        .list_flags(&FlagFilter { status: parsed, license_key: None }, &PageRequest::new(Some(PAGE_SIZE), cursor))
        .await?;
    let usage = state.usage.list_usage(&UsageFilter::default(), &PageRequest::first(20)).await?;
    let body = html! {
        p { "Flags are what buyers' apps report as suspicious (a key on too many machines, say). Review each one." }
        (tabs("/console/flags", status.as_deref(), &["open", "reviewed", "dismissed", "actioned"]))
        @if page.items.is_empty() { p { "No flags." } }
        @else {
            table #flags {
                thead { tr { th scope="col" { "Raised (UTC)" } th scope="col" { "License" } th scope="col" { "Reason" }
                    th scope="col" { "Status" } th scope="col" { "Review" } } }
                tbody {
                    @for flag in &page.items {
                        tr {
                            td { (date_time(flag.created_at)) }
                            td { (license_link(flag.license_key.as_str())) }
                            td.wrap { strong { (flag.reason) } @if let Some(message) = &flag.message { br; (message) } }
                            td { (flag.status.as_str()) @if let Some(action) = &flag.action { br; span.small { (action) } } }
                            td {
                                @if flag.status == FlagStatus::Open {
                                    form.review method="post" action=(format!("/console/flags/{}/review", flag.id)) {
                                        (csrf_field(&session))
                                        label for=(format!("status-{}", flag.id)) { "Outcome" }
                                        select id=(format!("status-{}", flag.id)) name="status" {
                                            option value="reviewed" { "reviewed" }
                                            option value="dismissed" { "dismissed" }
                                            option value="actioned" { "actioned" }
                                        }
                                        label for=(format!("action-{}", flag.id)) { "Action taken" }
                                        input id=(format!("action-{}", flag.id)) name="action" maxlength="500";
                                        button type="submit" { "Close flag" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        (next_page("/console/flags", &[("status", status.as_deref())], page.next_cursor.as_deref()))
        h2 { "Latest usage events" }
        @if usage.items.is_empty() { p { "None reported." } }
        @else {
            table #usage {
                thead { tr { th scope="col" { "When (UTC)" } th scope="col" { "License" } th scope="col" { "Event" } th scope="col" { "Metadata" } } }
                tbody {
                    @for event in &usage.items {
                        tr {
                            td { (date_time(event.at)) }
                            td { (license_link(event.license_key.as_str())) }
                            td { code { (event.event) } }
                            td.wrap { code.small { (event.metadata.to_string()) } }
                        }
                    }
                }
            }
        }
    };
    with_notice(request, "/console/flags", "Usage and flags", &session, body)
}

/// `POST /console/flags/{id}/review`
#[handler]
pub async fn review_flag(state: State<'_>, request: &Request, Path(id): Path<String>, body: Body) -> PageResult {
    let (_, form) = posted(&state, request, body).await?;
    let uuid = parse_id(&id, "flag")?;
    let status: FlagStatus = parse_choice(form.required("status", "an outcome")?, "flag outcome")?;
    let action = form.get("action").map(str::to_owned);
    state.usage.review_flag(uuid, status, action, Actor::Admin).await.map_err(|error| match error {
        ReviewFlagError::NotFound(_) => ConsoleError::not_found(format!("no flag {id}")),
        error @ ReviewFlagError::AlreadyReviewed { .. } => {
            ConsoleError::Refused { status: StatusCode::CONFLICT, message: error.to_string() }
        }
        error @ ReviewFlagError::Invalid(_) => ConsoleError::bad_request(error.to_string()),
        ReviewFlagError::Repository(error) => error.into(),
    })?;
    Ok(see_other("/console/flags?done=reviewed"))
}

/// `GET /console/keys`: the active signing key, the retired ones, the JWKS.
#[handler]
pub async fn keys_page(state: State<'_>, request: &Request) -> PageResult {
    let session = signed_in(&state, request)?;
    let jwks = state.keyring.jwks();
    let active = &state.keyring.active().kid;
    let mut keys = jwks.keys.clone();
    keys.sort_by_key(|jwk| (&jwk.kid != active, jwk.kid.clone()));
    let published = serde_json::to_string_pretty(&jwks).unwrap_or_default();
    let body = html! {
        p { "Tokens and leases are signed with the active key; retired keys still verify what they signed and stay \
             in the JWKS that apps and JOSE libraries read (" code { "/.well-known/jwks.json" } " on the public listener). \
             Keys are rotated in the configuration (" code { "[signing]" } ")." }
        table #keys {
            thead { tr { th scope="col" { "Key id (kid)" } th scope="col" { "Status" } th scope="col" { "Algorithm" } th scope="col" { "Public key (x)" } } }
            tbody {
                @for jwk in &keys {
                    tr {
                        td { code { (jwk.kid) } }
                        td { @if &jwk.kid == active { span.status.ok { "active" } } @else { span.status { "retired" } } }
                        td { (jwk.alg) }
                        td.wrap { code.small { (jwk.x) } }
                    }
                }
            }
        }
        h2 { "JWKS" }
        pre.payload #jwks { (published) }
    };
    Ok(html_response(StatusCode::OK, layout("/console/keys", "Signing keys", &session, None, body)))
}
