//! Licenses: search, one license (token, machines, customer, deliveries,
//! audit trail, actions), mint, and freeing a machine. Every action is the
//! admin API's use case with actor `admin`.

use maud::{html, Markup};
use poem::http::{header, StatusCode};
use poem::web::Path;
use poem::{handler, Body, Request, Response};
use tessera_domain::audit::{Actor, AuditFilter};
use tessera_domain::issuance::RenewLicense;
use tessera_domain::license::{LicenseFilter, LicenseKey, LicenseStatus};
use tessera_domain::licensing::{Issued, LicenseEmail};
use tessera_domain::mail::DeliveryFilter;
use tessera_domain::page::PageRequest;
use uuid::Uuid;

use super::tables::{audit_table, deliveries_table, license_href, status_class};
use super::view::{
    csrf_field, date, date_time, html_response, layout, next_page, parse_choice, posted, query, see_other, segment,
    signed_in, ConsoleError, PageResult, State,
};
use crate::http::admin::licenses::{LicenseKindDto, MintFailure, MintLicenseRequest};
use crate::http::errors::{ChangeFailure, ReadFailure};

const PAGE_SIZE: u32 = 50;

fn parse_key(text: &str) -> Result<LicenseKey, ConsoleError> {
    LicenseKey::parse(text).map_err(|_| ConsoleError::not_found(format!("no license {text}")))
}

/// `GET /console/licenses?q=&email=&product=&status=&source=&expiring=&cursor=`
#[handler]
pub async fn licenses_page(state: State<'_>, request: &Request) -> PageResult {
    let session = signed_in(&state, request)?;
    let (q, product, status, source, expiring, cursor) = (
        query(request, "q"),
        query(request, "product"),
        query(request, "status"),
        query(request, "source"),
        query(request, "expiring"),
        query(request, "cursor"),
    );
    let parsed_status: Option<LicenseStatus> =
        status.as_deref().map(|text| parse_choice(text, "license status")).transpose()?;
    let expiring_days = match expiring.as_deref() {
        Some(text) => Some(text.parse::<u16>().map_err(|_| ConsoleError::bad_request("expiring is a number of days"))?),
        None => None,
    };
    let now = state.now();
    let filter = LicenseFilter {
        product: product.clone(),
        status: parsed_status,
        source: source.clone(),
        expires_before: expiring_days.map(|days| now + time::Duration::days(i64::from(days))),
        ..LicenseFilter::search(q.as_deref().unwrap_or_default(), now)
    };
    let page =
        state.issuance.list(&filter, &PageRequest::new(Some(PAGE_SIZE), cursor)).await.map_err(ReadFailure::from)?;
    let catalog = state.issuance.catalog();
    let pairs = [
        ("q", q.as_deref()),
        ("product", product.as_deref()),
        ("status", status.as_deref()),
        ("source", source.as_deref()),
        ("expiring", expiring.as_deref()),
    ];
    let body = html! {
        form.search method="get" action="/console/licenses" role="search" {
            div.field { label for="q" { "Email, key or name" }
                input #q type="search" name="q" value=[q.as_deref()]; }
            div.field { label for="product" { "Product" }
                select #product name="product" {
                    option value="" { "Any" }
                    @for item in catalog.products() {
                        option value=(item.slug) selected[product.as_deref() == Some(item.slug.as_str())] { (item.name) }
                    }
                }
            }
            div.field { label for="status" { "Status" }
                select #status name="status" {
                    option value="" { "Any" }
                    @for choice in ["active", "suspended", "expired", "revoked"] {
                        option value=(choice) selected[status.as_deref() == Some(choice)] { (choice) }
                    }
                }
            }
            div.field { label for="source" { "Source" }
                input #source name="source" value=[source.as_deref()] placeholder="admin, gumroad, stripe…"; }
            @if let Some(days) = expiring_days {
                input type="hidden" name="expiring" value=(days);
            }
            button type="submit" { "Search" }
            a.button.secondary href="/console/licenses/new" { "Mint a license" }
        }
        @if let Some(days) = expiring_days {
            p.small { "Active licenses expiring within " (days) " days. " a href="/console/licenses" { "Show all" } }
        }
        @if page.items.is_empty() {
            p #no-results { "No licenses match." }
        } @else {
            table #licenses {
                thead { tr { th scope="col" { "Key" } th scope="col" { "Licensee" } th scope="col" { "Product · tier" }
                    th scope="col" { "Status" } th scope="col" { "Source" } th scope="col" { "Expires" } } }
                tbody {
                    @for license in &page.items {
                        @let status = license.status_at(now);
                        tr {
                            td { a href=(license_href(&license.key)) { code { (license.key.as_str()) } } }
                            td { (license.name.as_str()) br; span.small { (license.email.as_str()) } }
                            td { (license.product) " · " (license.tier) }
                            td { span class=(status_class(status)) { (status.as_str()) } }
                            td { (license.source) }
                            td { (date(license.expires_at, "never")) }
                        }
                    }
                }
            }
        }
        (next_page("/console/licenses", &pairs, page.next_cursor.as_deref()))
    };
    Ok(html_response(StatusCode::OK, layout("/console/licenses", "Licenses", &session, None, body)))
}

fn notice(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "minted" => "Minted.",
        "minted-emailed" => "Minted; the license email is queued.",
        "revoked" => "Revoked. Apps stop at their next check.",
        "suspended" => "Suspended.",
        "reinstated" => "Reinstated.",
        "renewed" => "Renewed; the token is re-signed.",
        "redelivered" => "The license email is queued again.",
        "freed" => "The machine is deactivated; its seat is free.",
        "retried" => "The delivery is queued again.",
        _ => return None,
    })
}

fn action_form(
    session: &crate::console_sessions::Session,
    key: &LicenseKey,
    action: &str,
    fields: Markup,
    label: &str,
) -> Markup {
    html! {
        form.action method="post" action=(format!("{}/{action}", license_href(key))) {
            (csrf_field(session))
            (fields)
            button type="submit" { (label) }
        }
    }
}

/// `GET /console/licenses/{key}`
#[handler]
pub async fn license_page(state: State<'_>, request: &Request, Path(key): Path<String>) -> PageResult {
    let session = signed_in(&state, request)?;
    let key = parse_key(&key)?;
    let license = state.issuance.get(&key).await.map_err(crate::http::errors::ShowFailure::from)?;
    let machines = state.activation.machines(&license).await?;
    let deliveries = state
        .outbox
        .list(&DeliveryFilter { status: None, license_key: Some(key.clone()) }, &PageRequest::first(20))
        .await?;
    let audit_filter =
        AuditFilter { entity_type: Some("license".into()), entity_id: Some(key.to_string()), ..Default::default() };
    let audit = state.reports.audit(&audit_filter, &PageRequest::first(50)).await?;
    let now = state.now();
    let status = license.status_at(now);
    let catalog = state.issuance.catalog();
    let product = catalog.product(&license.product);
    let live: Vec<_> = machines.iter().filter(|machine| machine.deactivated_at.is_none()).collect();
    let body = html! {
        section.card aria-labelledby="summary-title" {
            h2 #summary-title { (product.map_or(license.product.as_str(), |product| product.name.as_str())) " · " (license.tier) }
            dl {
                dt { "Key" } dd { code #license-key { (license.key.as_str()) } }
                dt { "Status" } dd { span #license-status class=(status_class(status)) { (status.as_str()) }
                    @if let Some(reason) = &license.revoke_reason { " — " (reason) } }
                dt { "Licensee" } dd { (license.name.as_str()) " · "
                    a href=(format!("/console/customers/{}", segment(license.email.as_str()))) { (license.email.as_str()) } }
                dt { "Kind" } dd { (license.kind.as_str()) }
                dt { "Seats" } dd { (live.len()) " of " (license.seats) " in use" }
                dt { "Issued" } dd { (date_time(license.issued_at)) }
                dt { "Expires" } dd { (date(license.expires_at, "never (perpetual)")) }
                dt { "Source" } dd { (license.source) @if let Some(reference) = &license.source_ref { " · " (reference) } }
                @if let Some(subscription) = &license.subscription {
                    dt { "Subscription" } dd { (subscription.id) @if !subscription.renewing { " (cancelled: does not renew)" } }
                }
                @if !license.features.is_empty() { dt { "Features" } dd { (license.features.join(", ")) } }
                @if let Some(notes) = &license.notes { dt { "Notes" } dd { (notes) } }
            }
        }
        section.card aria-labelledby="token-title" {
            h2 #token-title { "Token" }
            label for="token" { "The signed license token (what the buyer's app reads)" }
            textarea #token readonly rows="4" { (license.token) }
            p {
                button.secondary type="button" data-copy="token" hidden { "Copy token" }
                " "
                a.button.secondary href=(format!("{}/license.lic", license_href(&license.key))) download { "Download .lic" }
            }
        }
        section.card aria-labelledby="actions-title" {
            h2 #actions-title { "Actions" }
            div.actions {
                (action_form(&session, &license.key, "revoke", html! {
                    label for="reason" { "Reason for revoking" }
                    input #reason name="reason" required maxlength="500" placeholder="refund, chargeback, abuse…";
                }, "Revoke"))
                (action_form(&session, &license.key, "suspend", html! {}, "Suspend"))
                (action_form(&session, &license.key, "reinstate", html! {}, "Reinstate"))
                (action_form(&session, &license.key, "renew", html! {
                    label for="duration_days" { "Renew for days (empty: the tier's term)" }
                    input #duration_days name="duration_days" type="number" min="1" max="36500" inputmode="numeric";
                }, "Renew"))
                (action_form(&session, &license.key, "redeliver", html! {}, "Email it again"))
            }
        }
        section.card aria-labelledby="machines-title" {
            h2 #machines-title { "Machines" }
            @if machines.is_empty() { p { "No machine has activated this license." } }
            @else {
                table #machines {
                    thead { tr { th scope="col" { "Machine" } th scope="col" { "Platform · version" } th scope="col" { "Activated" }
                        th scope="col" { "Last seen" } th scope="col" { span.visually-hidden { "Action" } } } }
                    tbody {
                        @for machine in &machines {
                            @let name = machine.name.clone().unwrap_or_else(|| machine.fingerprint.as_str().chars().take(12).collect());
                            tr {
                                th scope="row" { (name) br; span.small { code { (machine.fingerprint.as_str()) } } }
                                td { (machine.platform.as_deref().unwrap_or("?")) " · " (machine.app_version.as_deref().unwrap_or("?")) }
                                td { (date_time(machine.activated_at)) }
                                td { (date_time(machine.last_seen_at)) }
                                td {
                                    @if let Some(at) = machine.deactivated_at { "freed " (date_time(at)) }
                                    @else {
                                        form method="post" action=(format!("/console/machines/{}/free", machine.id)) {
                                            (csrf_field(&session))
                                            input type="hidden" name="license" value=(license.key.as_str());
                                            button.danger type="submit" aria-label=(format!("Free the seat of {name}")) { "Free seat" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        section.card aria-labelledby="deliveries-title" {
            h2 #deliveries-title { "Emails" }
            (deliveries_table(&session, &deliveries.items, Some(&license.key)))
        }
        section.card aria-labelledby="audit-title" {
            h2 #audit-title { "Audit trail" }
            (audit_table(&audit.items))
        }
    };
    let title = format!("License {}", license.key.as_str());
    Ok(html_response(
        StatusCode::OK,
        layout("/console/licenses", &title, &session, notice(query(request, "done").as_deref()), body),
    ))
}

/// `GET /console/licenses/{key}/license.lic`
#[handler]
pub async fn download_license(state: State<'_>, request: &Request, Path(key): Path<String>) -> PageResult {
    signed_in(&state, request)?;
    let key = parse_key(&key)?;
    let license = state.issuance.get(&key).await.map_err(crate::http::errors::ShowFailure::from)?;
    let file = tessera_domain::mail::license_file(&license);
    let mut response = Response::builder()
        .content_type("application/octet-stream")
        .header(header::CONTENT_DISPOSITION, format!("attachment; filename=\"{}\"", file.name))
        .body(file.content);
    response.headers_mut().insert("Cache-Control", "no-store".parse().expect("valid"));
    Ok(super::view::with_security_headers(response))
}

/// `POST /console/licenses/{key}/{action}`: revoke, suspend, reinstate, renew, redeliver.
#[handler]
pub async fn license_action(
    state: State<'_>,
    request: &Request,
    Path((key, action)): Path<(String, String)>,
    body: Body,
) -> PageResult {
    let (_, form) = posted(&state, request, body).await?;
    let key = parse_key(&key)?;
    let done = match action.as_str() {
        "revoke" => {
            let reason = form.required("reason", "a reason")?;
            state.issuance.revoke(&key, reason, Actor::Admin).await.map_err(ChangeFailure::from)?;
            "revoked"
        }
        "suspend" => {
            state.issuance.suspend(&key, Actor::Admin).await.map_err(ChangeFailure::from)?;
            "suspended"
        }
        "reinstate" => {
            state.issuance.reinstate(&key, Actor::Admin).await.map_err(ChangeFailure::from)?;
            "reinstated"
        }
        "renew" => {
            let duration_days = match form.get("duration_days") {
                Some(text) => Some(
                    text.parse::<u32>()
                        .map_err(|_| ConsoleError::bad_request("days to renew for is a whole number of days"))?,
                ),
                None => None,
            };
            let renewal = RenewLicense { duration_days, expires_at: None };
            state.issuance.renew(&key, renewal, Actor::Admin).await.map_err(ChangeFailure::from)?;
            "renewed"
        }
        "redeliver" => {
            state.outbox.redeliver(&key, Actor::Admin).await.map_err(ChangeFailure::from)?;
            "redelivered"
        }
        other => return Err(ConsoleError::not_found(format!("no license action `{other}`"))),
    };
    Ok(see_other(&format!("{}?done={done}", license_href(&key))))
}

/// `POST /console/machines/{id}/free`
#[handler]
pub async fn free_machine(state: State<'_>, request: &Request, Path(id): Path<String>, body: Body) -> PageResult {
    let (_, form) = posted(&state, request, body).await?;
    let not_found = || ConsoleError::not_found(format!("no machine {id}"));
    let uuid = id.parse::<Uuid>().map_err(|_| not_found())?;
    state.activation.admin_deactivate(uuid).await.map_err(|error| match error {
        tessera_domain::activation::AdminDeactivateError::NotFound(_) => not_found(),
        tessera_domain::activation::AdminDeactivateError::Repository(error) => error.into(),
    })?;
    Ok(match form.get("license").map(LicenseKey::parse) {
        Some(Ok(key)) => see_other(&format!("{}?done=freed", license_href(&key))),
        _ => see_other("/console/licenses"),
    })
}

/// A fresh key for a mint form, so sending it twice mints once.
fn form_idempotency_key() -> String {
    format!("console-{}", crate::cookies::random_token())
}

fn mint_form(state: &crate::state::AppState, session: &crate::console_sessions::Session) -> Markup {
    let catalog = state.issuance.catalog();
    html! {
        form.card method="post" action="/console/licenses" {
            (csrf_field(session))
            input type="hidden" name="idempotency_key" value=(form_idempotency_key());
            div.field { label for="tier" { "Product and tier" }
                select #tier name="product_tier" required {
                    @for product in catalog.products() {
                        optgroup label=(product.name) {
                            @for (slug, tier) in &product.tiers {
                                option value=(format!("{}/{}", product.slug, slug)) {
                                    (product.name) " · " (tier.name.as_deref().unwrap_or(slug)) " (" (tier.seats) " seats, "
                                    @match tier.duration_days { Some(days) => { (days) " days" } None => "perpetual" } ")"
                                }
                            }
                        }
                    }
                }
            }
            div.field { label for="name" { "Licensee name" } input #name name="name" required maxlength="200" autocomplete="off"; }
            div.field { label for="email" { "Email" } input #email name="email" type="email" required autocomplete="off"; }
            div.field { label for="seats" { "Seats (empty: the tier's)" } input #seats name="seats" type="number" min="1" max="100000"; }
            div.field { label for="duration" { "Term in days (empty: the tier's)" } input #duration name="duration_days" type="number" min="1" max="36500"; }
            div.field { label for="kind" { "Kind" }
                select #kind name="kind" {
                    option value="" { "From the term" }
                    @for kind in ["perpetual", "fixed_term", "subscription", "trial"] { option value=(kind) { (kind) } }
                }
            }
            div.field { label for="notes" { "Notes (not in the token)" } input #notes name="notes" maxlength="2000"; }
            div.field.check { input #send_email name="send_email" type="checkbox" value="1" checked;
                label for="send_email" { "Email the license to the buyer" } }
            button type="submit" { "Mint" }
        }
    }
}

/// `GET /console/licenses/new`
#[handler]
pub async fn mint_page(state: State<'_>, request: &Request) -> PageResult {
    let session = signed_in(&state, request)?;
    let body = mint_form(&state, &session);
    Ok(html_response(StatusCode::OK, layout("/console/licenses", "Mint a license", &session, None, body)))
}

/// `POST /console/licenses`: the admin API's mint (same parsing, same use case).
#[handler]
pub async fn mint_license(state: State<'_>, request: &Request, body: Body) -> PageResult {
    let (_, form) = posted(&state, request, body).await?;
    let (product, tier) = form
        .required("product_tier", "a product and tier")?
        .split_once('/')
        .ok_or_else(|| ConsoleError::bad_request("choose a product and tier"))?;
    let number = |name: &str, label: &str| -> Result<Option<i64>, ConsoleError> {
        form.get(name)
            .map(|text| {
                text.parse::<i64>().map_err(|_| ConsoleError::bad_request(format!("{label} is a whole number")))
            })
            .transpose()
    };
    let kind = match form.get("kind") {
        None => None,
        Some("perpetual") => Some(LicenseKindDto::Perpetual),
        Some("fixed_term") => Some(LicenseKindDto::FixedTerm),
        Some("subscription") => Some(LicenseKindDto::Subscription),
        Some("trial") => Some(LicenseKindDto::Trial),
        Some(other) => return Err(ConsoleError::bad_request(format!("unknown license kind `{other}`"))),
    };
    let send_email = form.get("send_email").is_some();
    let dto = MintLicenseRequest {
        product: product.to_owned(),
        tier: tier.to_owned(),
        name: form.required("name", "a licensee name")?.to_owned(),
        email: form.required("email", "an email")?.to_owned(),
        seats: number("seats", "seats")?,
        kind,
        duration_days: number("duration_days", "the term")?,
        expires_at: None,
        key: None,
        notes: form.get("notes").map(str::to_owned),
        source: None,
        app_versions: None,
        source_ref: None,
        send_email: Some(send_email),
    };
    let idempotency_key = form
        .get("idempotency_key")
        .map(tessera_domain::license::IdempotencyKey::parse)
        .transpose()
        .map_err(|error| ConsoleError::bad_request(error.to_string()))?;
    let request = dto.parse(idempotency_key).map_err(MintFailure::BadRequest)?;
    let email = if send_email { LicenseEmail::Send } else { LicenseEmail::Skip };
    let Issued { minted, email } =
        state.licensing.issue(request, email, Actor::Admin).await.map_err(MintFailure::from)?;
    let done = match email {
        Some(Ok(_)) => "minted-emailed",
        Some(Err(error)) => {
            tracing::error!(key = %minted.license.key, error = %crate::http::errors::chain(&error), "could not queue the license email");
            "minted"
        }
        None => "minted",
    };
    Ok(see_other(&format!("{}?done={done}", license_href(&minted.license.key))))
}
