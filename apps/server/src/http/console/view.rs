//! What every console page shares: the layout, the security headers, the
//! session and CSRF checks, form reading, and the error page.

use std::collections::HashMap;
use std::sync::Arc;

use maud::{html, Markup, DOCTYPE};
use poem::http::{header, StatusCode};
use poem::{Body, Request, Response};
use time::OffsetDateTime;

use crate::console_sessions::Session;
use crate::http::admin::licenses::MintFailure;
use crate::http::errors::{ChangeFailure, CreateFailure, ReadFailure, ShowFailure};
use crate::state::AppState;

pub const SESSION_COOKIE: &str = "tessera_console";
/// The sign-in form's CSRF token before there is a session (double submit).
pub const SIGN_IN_COOKIE: &str = "tessera_console_signin";

const SECURITY_HEADERS: [(&str, &str); 7] = [
    (
        "Content-Security-Policy",
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; connect-src 'none'; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Content-Type-Options", "nosniff"),
    ("Cache-Control", "no-store"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
];

pub fn with_security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        headers.insert(name, value.parse().expect("static header values are valid"));
    }
    response
}

pub fn html_response(status: StatusCode, markup: Markup) -> Response {
    with_security_headers(
        Response::builder().status(status).content_type("text/html; charset=utf-8").body(markup.into_string()),
    )
}

/// `303 See Other` to `location` (after a form: reloading the page repeats nothing).
pub fn see_other(location: &str) -> Response {
    with_security_headers(Response::builder().status(StatusCode::SEE_OTHER).header(header::LOCATION, location).finish())
}

/// Why a console request was not answered with its page.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// No live session: back to the sign-in form.
    #[error("sign in first")]
    SignIn,
    /// The form did not carry this session's CSRF token, or came from another site.
    #[error("this form is not from this console session")]
    Forged,
    /// The use case refused (the domain's message), or the input is malformed.
    #[error("{message}")]
    Refused { status: StatusCode, message: String },
}

impl ConsoleError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::Refused { status: StatusCode::BAD_REQUEST, message: message.into() }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::Refused { status: StatusCode::NOT_FOUND, message: message.into() }
    }
}

impl poem::error::ResponseError for ConsoleError {
    fn status(&self) -> StatusCode {
        match self {
            Self::SignIn => StatusCode::SEE_OTHER,
            Self::Forged => StatusCode::FORBIDDEN,
            Self::Refused { status, .. } => *status,
        }
    }

    fn as_response(&self) -> Response {
        match self {
            Self::SignIn => see_other("/console/sign-in"),
            Self::Forged => message_page(
                StatusCode::FORBIDDEN,
                "Refused",
                "This form did not come from your console session (it expired, or another site sent it). Open \
                 the page again and resend.",
            ),
            Self::Refused { status, message } => {
                let title = if status.is_server_error() { "Not available" } else { "Not done" };
                message_page(*status, title, message)
            }
        }
    }
}

/// The admin API's failure answers, reused: the console shows the same
/// message with the same status as the API for the same refusal.
macro_rules! from_admin_failure {
    ($($failure:ident { $($variant:ident = $status:literal),* }),* $(,)?) => {
        $(impl From<$failure> for ConsoleError {
            fn from(failure: $failure) -> Self {
                let (status, body) = match failure {
                    $($failure::$variant(body) => ($status, body),)*
                    $failure::Unauthorized(body) => (401, body),
                    $failure::Internal(body) => (500, body),
                    $failure::Unavailable(body) => (503, body),
                };
                ConsoleError::Refused { status: StatusCode::from_u16(status).expect("a status"), message: body.0.message }
            }
        })*
    };
}

from_admin_failure! {
    ReadFailure { BadRequest = 400 },
    ShowFailure { BadRequest = 400, NotFound = 404 },
    CreateFailure { BadRequest = 400, Conflict = 409 },
    ChangeFailure { BadRequest = 400, NotFound = 404, Conflict = 409 },
    MintFailure { BadRequest = 400, Conflict = 409, Unprocessable = 422 },
}

impl From<tessera_domain::repository::RepositoryError> for ConsoleError {
    fn from(error: tessera_domain::repository::RepositoryError) -> Self {
        ReadFailure::from(error).into()
    }
}

pub type PageResult = Result<Response, ConsoleError>;

pub use crate::cookies::token_cookie as cookie;

/// Whether the console is reached over https (directly or behind a proxy
/// that says so), so its cookies are `Secure`.
pub fn is_https(request: &Request) -> bool {
    request.uri().scheme_str() == Some("https")
        || request
            .headers()
            .get("x-forwarded-proto")
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.eq_ignore_ascii_case("https"))
}

/// A `Set-Cookie` value for a console cookie (`max_age` 0 deletes it).
pub fn cookie_header(request: &Request, name: &str, value: &str, max_age: u64) -> String {
    let secure = if is_https(request) { "; Secure" } else { "" };
    format!("{name}={value}; Path=/console; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}")
}

/// The signed-in operator's session, or [`ConsoleError::SignIn`].
pub fn signed_in(state: &AppState, request: &Request) -> Result<Session, ConsoleError> {
    cookie(request, SESSION_COOKIE).and_then(|id| state.console.find(&id)).ok_or(ConsoleError::SignIn)
}

/// A browser tells where a request comes from (`Sec-Fetch-Site`, else
/// `Origin`): one from another site is refused whatever it carries. Our pages
/// are `Referrer-Policy: no-referrer`, so a browser sends `Origin: null` on
/// their own forms: that says nothing, and the CSRF token decides.
pub fn from_another_site(request: &Request) -> bool {
    let header = |name: &str| request.headers().get(name).and_then(|value| value.to_str().ok());
    if let Some(site) = header("sec-fetch-site") {
        return site == "cross-site" || site == "same-site";
    }
    match header("origin") {
        Some("null") | None => false,
        Some(origin) => {
            let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
            header("host") != Some(origin_host)
        }
    }
}

/// A posted form's fields.
pub struct Form(HashMap<String, String>);

impl Form {
    pub async fn read(body: Body) -> Result<Self, ConsoleError> {
        let bytes = body.into_vec().await.map_err(|_| ConsoleError::bad_request("the form could not be read"))?;
        Ok(Self(form_urlencoded::parse(&bytes).into_owned().collect()))
    }

    /// A field, trimmed; `None` when absent or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|value| value.trim()).filter(|value| !value.is_empty())
    }

    /// A field that must be there.
    pub fn required(&self, name: &str, label: &str) -> Result<&str, ConsoleError> {
        self.get(name).ok_or_else(|| ConsoleError::bad_request(format!("{label} is required")))
    }
}

/// A form posted by the signed-in operator, its CSRF token checked.
pub async fn posted(state: &AppState, request: &Request, body: Body) -> Result<(Session, Form), ConsoleError> {
    let session = signed_in(state, request)?;
    if from_another_site(request) {
        return Err(ConsoleError::Forged);
    }
    let form = Form::read(body).await?;
    if !form.get("csrf").is_some_and(|field| session.csrf_matches(field)) {
        return Err(ConsoleError::Forged);
    }
    Ok((session, form))
}

/// A filter's or a form's word (`failed`, `active`, …) as `T`, or a 400 naming it.
pub fn parse_choice<T: std::str::FromStr>(text: &str, what: &str) -> Result<T, ConsoleError> {
    text.parse::<T>().map_err(|_| ConsoleError::bad_request(format!("unknown {what} `{text}`")))
}

/// A query parameter, trimmed; `None` when absent or empty.
pub fn query(request: &Request, name: &str) -> Option<String> {
    form_urlencoded::parse(request.uri().query().unwrap_or_default().as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

/// `path?name=value&…` with the empty values left out.
pub fn link(path: &str, pairs: &[(&str, Option<&str>)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    let mut any = false;
    for (name, value) in pairs {
        if let Some(value) = value.filter(|value| !value.is_empty()) {
            query.append_pair(name, value);
            any = true;
        }
    }
    if any {
        format!("{path}?{}", query.finish())
    } else {
        path.to_owned()
    }
}

/// A path segment, percent-encoded (keys and emails in links).
pub fn segment(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>().replace('+', "%20")
}

pub fn date_time(at: OffsetDateTime) -> String {
    format!("{} {:02}:{:02}", at.date(), at.hour(), at.minute())
}

pub fn date(at: Option<OffsetDateTime>, none: &str) -> String {
    at.map_or_else(|| none.to_owned(), |at| at.date().to_string())
}

/// The sections of the navigation: (path, label).
const SECTIONS: [(&str, &str); 9] = [
    ("/console", "Dashboard"),
    ("/console/licenses", "Licenses"),
    ("/console/customers", "Customers"),
    ("/console/events", "Storefront events"),
    ("/console/deliveries", "Deliveries"),
    ("/console/audit", "Audit"),
    ("/console/flags", "Usage and flags"),
    ("/console/releases", "Releases"),
    ("/console/keys", "Signing keys"),
];

fn head(title: &str) -> Markup {
    html! {
        meta charset="utf-8";
        meta name="viewport" content="width=device-width, initial-scale=1";
        meta name="referrer" content="no-referrer";
        title { (title) " · Tessera console" }
        link rel="stylesheet" href="/console/assets/console.css";
        script src="/console/assets/console.js" defer {}
    }
}

/// A signed-in page: navigation (`section` marked current), sign-out, `body`.
pub fn layout(section: &str, title: &str, session: &Session, notice: Option<&str>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head { (head(title)) }
            body {
                a.skip href="#main" { "Skip to content" }
                header {
                    nav aria-label="Console" {
                        span.brand { "Tessera" }
                        ul {
                            @for (path, label) in SECTIONS {
                                li {
                                    @if path == section {
                                        a href=(path) aria-current="page" { (label) }
                                    } @else {
                                        a href=(path) { (label) }
                                    }
                                }
                            }
                        }
                        form.sign-out method="post" action="/console/sign-out" {
                            input type="hidden" name="csrf" value=(session.csrf);
                            button.secondary type="submit" { "Sign out" }
                        }
                    }
                }
                main #main {
                    h1 { (title) }
                    @if let Some(notice) = notice {
                        p.notice role="status" { (notice) }
                    }
                    (body)
                }
            }
        }
    }
}

/// A page without navigation (sign-in, errors).
pub fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head { (head(title)) }
            body.bare {
                main #main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

pub fn message_page(status: StatusCode, title: &str, message: &str) -> Response {
    html_response(
        status,
        bare(
            title,
            html! {
                p.error role="alert" { (message) }
                p { a href="/console" { "Back to the dashboard" } }
            },
        ),
    )
}

/// The hidden CSRF field of a form.
pub fn csrf_field(session: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(session.csrf); }
}

/// "Next page" when there is one.
pub fn next_page(path: &str, pairs: &[(&str, Option<&str>)], next_cursor: Option<&str>) -> Markup {
    let Some(cursor) = next_cursor else { return html! {} };
    let mut with_cursor = pairs.to_vec();
    with_cursor.push(("cursor", Some(cursor)));
    html! { p.pager { a href=(link(path, &with_cursor)) rel="next" { "Next page →" } } }
}

/// The state every handler reads.
pub type State<'a> = poem::web::Data<&'a Arc<AppState>>;
