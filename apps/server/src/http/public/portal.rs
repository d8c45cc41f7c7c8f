//! The buyers' portal on the public listener: server-rendered HTML that works
//! without JavaScript.
//!
//! - `GET /portal`: the "email me my licenses" form;
//! - `POST /portal/redeliver`: queues the portal email when the address has
//!   licenses, and answers the same page either way, before even looking;
//! - `GET /portal/licenses?token=…`: what the emailed link opens: the
//!   licenses, their machines and the files each license may download;
//! - `POST /portal/machines/deactivate`: frees a machine, then back to the list.
//!
//! Forms carry a CSRF token that must equal the `tessera_csrf` cookie
//! (double submit; the cookie is `SameSite=Strict` and `HttpOnly`). Every page
//! has a strict CSP, no framing and no referrer, so the link's token never
//! leaves in a `Referer` header.

use std::collections::HashMap;
use std::sync::Arc;

use maud::{html, Markup, DOCTYPE};
use poem::http::{header, StatusCode};
use poem::web::Data;
use poem::{handler, Body, Request, Response};
use subtle::ConstantTimeEq;
use tessera_domain::license::{EmailAddress, LicenseStatus};
use tessera_domain::portal::{OpenPortalError, PortalDeactivateError, PortalLinkError, PortalView};
use tessera_domain::release::Downloads;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::rate_limit::Verdict;
use crate::state::AppState;

const CSRF_COOKIE: &str = "tessera_csrf";

const SECURITY_HEADERS: [(&str, &str); 6] = [
    (
        "Content-Security-Policy",
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; \
         base-uri 'none'",
    ),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Content-Type-Options", "nosniff"),
    ("Cache-Control", "no-store"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
];

const STYLE: &str = include_str!("portal.css");

fn with_security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        headers.insert(name, value.parse().expect("static header values are valid"));
    }
    response
}

fn html_response(status: StatusCode, markup: Markup) -> Response {
    with_security_headers(
        Response::builder().status(status).content_type("text/html; charset=utf-8").body(markup.into_string()),
    )
}

fn layout(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) " · Licenses" }
                link rel="stylesheet" href="/portal/style.css";
            }
            body {
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// A page that explains what went wrong and how to go on.
fn message_page(status: StatusCode, title: &str, message: &str) -> Response {
    html_response(
        status,
        layout(
            title,
            html! {
                p { (message) }
                p { a href="/portal" { "Ask for a new email with your licenses" } }
            },
        ),
    )
}

/// The browser's CSRF cookie, if it sent a well-formed one.
fn csrf_cookie(request: &Request) -> Option<String> {
    crate::cookies::token_cookie(request, CSRF_COOKIE)
}

/// The CSRF token for a form page: the browser's, or a new one to set.
fn csrf_token(request: &Request) -> (String, bool) {
    crate::cookies::token_or_new(request, CSRF_COOKIE)
}

fn set_csrf_cookie(state: &AppState, mut response: Response, token: &str, is_new: bool) -> Response {
    if is_new {
        let secure = if state.public_base_url.starts_with("https://") { "; Secure" } else { "" };
        let cookie = format!("{CSRF_COOKIE}={token}; Path=/portal; HttpOnly; SameSite=Strict{secure}");
        response.headers_mut().insert(header::SET_COOKIE, cookie.parse().expect("base64url is a header value"));
    }
    response
}

/// Whether the form's CSRF field matches the cookie.
fn csrf_valid(request: &Request, form: &HashMap<String, String>) -> bool {
    match (csrf_cookie(request), form.get("csrf")) {
        (Some(cookie), Some(field)) => bool::from(cookie.as_bytes().ct_eq(field.as_bytes())),
        _ => false,
    }
}

fn csrf_refused() -> Response {
    message_page(
        StatusCode::FORBIDDEN,
        "Please try again",
        "This form has expired or your browser did not send its cookie. Open the page again (cookies must be \
         allowed for this site) and resend the form.",
    )
}

async fn read_form(body: Body) -> Option<HashMap<String, String>> {
    let bytes = body.into_vec().await.ok()?;
    Some(form_urlencoded::parse(&bytes).into_owned().collect())
}

fn request_form(csrf: &str, email: &str, error: Option<&str>) -> Markup {
    html! {
        p { "Lost the email with your license, or changed computers? Enter the address you bought with. \
             We will email you all of its licenses and a link to manage the machines using them." }
        form method="post" action="/portal/redeliver" {
            input type="hidden" name="csrf" value=(csrf);
            label for="email" { "Email address" }
            @if let Some(error) = error {
                p.error id="email-error" role="alert" { (error) }
                input #email type="email" name="email" value=(email) required autocomplete="email"
                    aria-invalid="true" aria-describedby="email-error";
            } @else {
                input #email type="email" name="email" value=(email) required autocomplete="email";
            }
            button type="submit" { "Email me my licenses" }
        }
    }
}

/// `GET /portal`
#[handler]
pub async fn index(state: Data<&Arc<AppState>>, request: &Request) -> Response {
    let (csrf, is_new) = csrf_token(request);
    let page = html_response(StatusCode::OK, layout("Your licenses", request_form(&csrf, "", None)));
    set_csrf_cookie(&state, page, &csrf, is_new)
}

fn limited_page(limit: u32, retry_after: std::time::Duration) -> Response {
    let minutes = retry_after.as_secs().div_ceil(60).max(1);
    let mut response = message_page(
        StatusCode::TOO_MANY_REQUESTS,
        "Too many requests",
        &format!("Too many emails were asked for recently. Please try again in {minutes} minutes."),
    );
    crate::http::set_rate_limit_headers(&mut response, limit, retry_after);
    response
}

/// `POST /portal/redeliver`
#[handler]
pub async fn redeliver(state: Data<&Arc<AppState>>, request: &Request, body: Body) -> Response {
    let Some(form) = read_form(body).await else {
        return message_page(StatusCode::BAD_REQUEST, "Please try again", "The form could not be read.");
    };
    if !csrf_valid(request, &form) {
        return csrf_refused();
    }
    let typed = form.get("email").map(|email| email.trim()).unwrap_or_default();
    let email = match EmailAddress::parse(typed) {
        Ok(email) => email,
        Err(_) => {
            let csrf = form.get("csrf").cloned().unwrap_or_default();
            let error = "Enter an email address like name@example.com.";
            return html_response(
                StatusCode::BAD_REQUEST,
                layout("Your licenses", request_form(&csrf, typed, Some(error))),
            );
        }
    };
    if let Some(limits) = &state.rate_limits {
        if let Verdict::Limited { limit, retry_after } =
            limits.portal_redeliver(crate::http::client_ip(limits, request), email.as_str()).await
        {
            return limited_page(limit, retry_after);
        }
    }
    // Looked up after answering, so that neither the page nor its timing says
    // whether the address has licenses.
    let portal = state.portal.clone();
    tokio::spawn(async move {
        if let Err(error) = portal.request_licenses(&email).await {
            tracing::error!(%error, "portal: queueing the licenses email failed");
        }
    });
    html_response(
        StatusCode::OK,
        layout(
            "Check your inbox",
            html! {
                p role="status" { "If that address has licenses, an email with all of them and a link to manage \
                   your machines is on its way. The link works for a limited time." }
                p { "Nothing after a few minutes? Check your spam folder and the address you bought with." }
                p { a href="/portal" { "Back" } }
            },
        ),
    )
}

fn date(at: OffsetDateTime) -> String {
    at.date().to_string()
}

fn date_time(at: OffsetDateTime) -> String {
    format!("{} {:02}:{:02} UTC", at.date(), at.hour(), at.minute())
}

fn status_text(status: LicenseStatus) -> &'static str {
    match status {
        LicenseStatus::Active => "Active",
        LicenseStatus::Suspended => "Suspended",
        LicenseStatus::Expired => "Expired",
        LicenseStatus::Revoked => "Revoked",
    }
}

/// A size for people: `12.3 MB`.
fn file_size(bytes: u64) -> String {
    match bytes {
        0..1_000 => format!("{bytes} B"),
        1_000..1_000_000 => format!("{:.1} kB", bytes as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} MB", bytes as f64 / 1e6),
        _ => format!("{:.2} GB", bytes as f64 / 1e9),
    }
}

fn downloads_list(downloads: &Downloads) -> Markup {
    html! {
        table {
            caption { "Downloads · version " (downloads.release.version.to_string()) }
            thead { tr { th scope="col" { "File" } th scope="col" { "Platform" } th scope="col" { "Size" }
                         th scope="col" { "SHA-256" } } }
            tbody {
                @for (artifact, link) in &downloads.files {
                    tr {
                        th scope="row" {
                            a href=(super::releases::download_url("", artifact, &link.token)) download {
                                (artifact.filename.as_str())
                            }
                        }
                        td { (artifact.platform.as_str()) " · " (artifact.arch.as_str()) }
                        td { (file_size(artifact.size)) }
                        td { code.small { (&artifact.sha256[..artifact.sha256.len().min(16)]) "…" } }
                    }
                }
            }
        }
    }
}

fn licenses_page(view: &PortalView, downloads: &[Option<Downloads>], token: &str, csrf: &str, freed: bool) -> Markup {
    layout(
        "Your licenses",
        html! {
            p { "Licenses of " strong { (view.email.as_str()) } ". This page works until "
                (date_time(view.link_expires_at)) "." }
            @if freed {
                p.notice role="status" { "The machine was deactivated; its seat is free." }
            }
            @if view.licenses.is_empty() {
                p { "This address has no licenses." }
            }
            @for (item, files) in view.licenses.iter().zip(downloads) {
                @let license = &item.license;
                section.license aria-labelledby=(format!("license-{}", license.id)) {
                    h2 id=(format!("license-{}", license.id)) { (item.product_name) " · " (item.tier_name) }
                    dl {
                        dt { "License key" } dd { code { (license.key.as_str()) } }
                        dt { "Status" } dd { (status_text(item.status)) }
                        dt { "Expires" } dd {
                            @match license.expires_at { Some(at) => (date(at)), None => "Never (perpetual)" }
                        }
                        dt { "Machines" } dd { (item.machines.len()) " of " (license.seats) }
                    }
                    @if let Some(url) = &item.renew_url {
                        p { a.button href=(url) rel="noreferrer" { "Renew " (item.product_name) } }
                    }
                    @if let Some(files) = files {
                        (downloads_list(files))
                    }
                    @if !item.machines.is_empty() {
                        table {
                            caption { "Machines using this license" }
                            thead { tr { th scope="col" { "Machine" } th scope="col" { "Platform" }
                                         th scope="col" { "Last seen" } th scope="col" { span.visually-hidden { "Action" } } } }
                            tbody {
                                @for machine in &item.machines {
                                    @let name = machine.name.clone().unwrap_or_else(|| {
                                        let fingerprint = machine.fingerprint.as_str();
                                        format!("Machine {}", &fingerprint[..fingerprint.len().min(8)])
                                    });
                                    tr {
                                        th scope="row" { (name) }
                                        td { (machine.platform.as_deref().unwrap_or("unknown")) }
                                        td { (date_time(machine.last_seen_at)) }
                                        td {
                                            form method="post" action="/portal/machines/deactivate" {
                                                input type="hidden" name="csrf" value=(csrf);
                                                input type="hidden" name="token" value=(token);
                                                input type="hidden" name="activation" value=(machine.id.to_string());
                                                button type="submit" aria-label=(format!("Deactivate {name}")) { "Deactivate" }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            p.small { "Deactivating frees a seat for another computer; the app on that machine stops at its next \
                       check. Frequent deactivations are limited." }
        },
    )
}

fn link_refused(error: &PortalLinkError) -> Response {
    match error {
        PortalLinkError::Expired => message_page(
            StatusCode::GONE,
            "This link has expired",
            "Links in our emails work for a limited time. Ask for a new email below; it takes a minute.",
        ),
        PortalLinkError::Invalid(reason) => {
            tracing::info!(reason = %reason, "portal: refused a link");
            message_page(
                StatusCode::BAD_REQUEST,
                "This link is not valid",
                "The link is incomplete or was changed. Open it again from the email, or ask for a new email below.",
            )
        }
    }
}

fn unavailable(error: &dyn std::fmt::Display) -> Response {
    tracing::error!(%error, "portal: storage failed");
    message_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Please try again",
        "Your licenses cannot be shown right now. Please try again in a minute.",
    )
}

fn query_param(request: &Request, name: &str) -> Option<String> {
    form_urlencoded::parse(request.uri().query().unwrap_or_default().as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// `GET /portal/licenses?token=…`
#[handler]
pub async fn licenses(state: Data<&Arc<AppState>>, request: &Request) -> Response {
    let Some(token) = query_param(request, "token") else {
        return link_refused(&PortalLinkError::Invalid("no token".into()));
    };
    match state.portal.open(&token).await {
        Ok(view) => {
            let mut downloads = Vec::with_capacity(view.licenses.len());
            for item in &view.licenses {
                match state.releases.downloads(&item.license.key, &item.license.product).await {
                    Ok(files) => downloads.push(files),
                    Err(error) => return unavailable(&error),
                }
            }
            let (csrf, is_new) = csrf_token(request);
            let freed = query_param(request, "freed").is_some();
            let page = html_response(StatusCode::OK, licenses_page(&view, &downloads, &token, &csrf, freed));
            set_csrf_cookie(&state, page, &csrf, is_new)
        }
        Err(OpenPortalError::Link(error)) => link_refused(&error),
        Err(OpenPortalError::Repository(error)) => unavailable(&error),
    }
}

/// `POST /portal/machines/deactivate`
#[handler]
pub async fn deactivate(state: Data<&Arc<AppState>>, request: &Request, body: Body) -> Response {
    let Some(form) = read_form(body).await else {
        return message_page(StatusCode::BAD_REQUEST, "Please try again", "The form could not be read.");
    };
    if !csrf_valid(request, &form) {
        return csrf_refused();
    }
    let token = form.get("token").cloned().unwrap_or_default();
    let Some(activation) = form.get("activation").and_then(|id| id.parse::<Uuid>().ok()) else {
        return message_page(StatusCode::BAD_REQUEST, "Please try again", "No machine was chosen.");
    };
    if let Some(limits) = &state.rate_limits {
        if let Verdict::Limited { limit, retry_after } =
            limits.portal_deactivate(crate::http::client_ip(limits, request)).await
        {
            return limited_page(limit, retry_after);
        }
    }
    match state.portal.deactivate_machine(&token, activation).await {
        Ok(_) => {
            let query: String = form_urlencoded::Serializer::new(String::new())
                .append_pair("token", &token)
                .append_pair("freed", "1")
                .finish();
            with_security_headers(
                Response::builder()
                    .status(StatusCode::SEE_OTHER)
                    .header(header::LOCATION, format!("/portal/licenses?{query}"))
                    .finish(),
            )
        }
        Err(PortalDeactivateError::Link(error)) => link_refused(&error),
        Err(PortalDeactivateError::NotFound(_)) => message_page(
            StatusCode::NOT_FOUND,
            "Machine not found",
            "That machine is not among your licenses. Go back to your licenses and try again.",
        ),
        Err(PortalDeactivateError::Repository(error)) => unavailable(&error),
    }
}

/// `GET /portal/style.css`: the one stylesheet (a file, so the CSP needs no
/// `unsafe-inline`).
#[handler]
pub async fn style() -> Response {
    let mut response = Response::builder().content_type("text/css; charset=utf-8").body(STYLE);
    response.headers_mut().insert("Cache-Control", "public, max-age=3600".parse().expect("valid"));
    response.headers_mut().insert("X-Content-Type-Options", "nosniff".parse().expect("valid"));
    response
}
