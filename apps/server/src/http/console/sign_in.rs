//! Signing in with the admin token, and out.

use std::net::IpAddr;

use maud::html;
use poem::http::{header, StatusCode};
use poem::{handler, Body, Request, Response};
use subtle::ConstantTimeEq;
use tessera_domain::audit::Actor;

use super::view::{
    bare, cookie, cookie_header, from_another_site, html_response, posted, see_other, ConsoleError, Form, PageResult,
    State, SESSION_COOKIE, SIGN_IN_COOKIE,
};
use crate::console_sessions::SESSION_LIFETIME;

/// The client's IP as the rate limits see it (the peer's when they are off).
fn client_ip(state: &crate::state::AppState, request: &Request) -> IpAddr {
    match &state.rate_limits {
        Some(limits) => crate::http::client_ip(limits, request),
        None => {
            request.remote_addr().as_socket_addr().map_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), |addr| addr.ip())
        }
    }
}

fn sign_in_page(status: StatusCode, csrf: &str, error: Option<&str>) -> Response {
    html_response(
        status,
        bare(
            "Sign in",
            html! {
                p { "The console of this Tessera server. Sign in with the admin token (" code { "[admin] token" }
                    " or the file of " code { "token_file" } ")." }
                form method="post" action="/console/sign-in" {
                    input type="hidden" name="csrf" value=(csrf);
                    label for="token" { "Admin token" }
                    @if let Some(error) = error {
                        p.error #token-error role="alert" { (error) }
                        input #token type="password" name="token" required autocomplete="current-password"
                            aria-invalid="true" aria-describedby="token-error" autofocus;
                    } @else {
                        input #token type="password" name="token" required autocomplete="current-password" autofocus;
                    }
                    button type="submit" { "Sign in" }
                }
            },
        ),
    )
}

/// `GET /console/sign-in`
#[handler]
pub async fn sign_in_form(state: State<'_>, request: &Request) -> Response {
    if super::view::signed_in(&state, request).is_ok() {
        return see_other("/console");
    }
    let (csrf, is_new) = crate::cookies::token_or_new(request, SIGN_IN_COOKIE);
    let mut page = sign_in_page(StatusCode::OK, &csrf, None);
    if is_new {
        let value = cookie_header(request, SIGN_IN_COOKIE, &csrf, 3600);
        page.headers_mut().insert(header::SET_COOKIE, value.parse().expect("base64url is a header value"));
    }
    page
}

/// `POST /console/sign-in`
#[handler]
pub async fn sign_in(state: State<'_>, request: &Request, body: Body) -> PageResult {
    if from_another_site(request) {
        return Err(ConsoleError::Forged);
    }
    let form = Form::read(body).await?;
    let csrf = cookie(request, SIGN_IN_COOKIE).ok_or(ConsoleError::Forged)?;
    if !form.get("csrf").is_some_and(|field| bool::from(field.as_bytes().ct_eq(csrf.as_bytes()))) {
        return Err(ConsoleError::Forged);
    }
    let ip = client_ip(&state, request);
    if let Err(wait) = state.console.attempt_sign_in(ip) {
        let seconds = wait.as_secs().max(1);
        let mut page = sign_in_page(
            StatusCode::TOO_MANY_REQUESTS,
            &csrf,
            Some(&format!("Too many sign-in attempts from this address; try again in {seconds} s.")),
        );
        page.headers_mut().insert("Retry-After", seconds.to_string().parse().expect("digits"));
        return Ok(page);
    }
    let from = serde_json::json!({ "ip": ip.to_string() });
    if !form.get("token").is_some_and(|token| state.admin_token.matches(token)) {
        state.audit.record(Actor::System, "console.sign_in_refused", "console", &ip.to_string(), from).await?;
        return Ok(sign_in_page(StatusCode::UNAUTHORIZED, &csrf, Some("That is not the admin token.")));
    }
    state.audit.record(Actor::Admin, "console.signed_in", "console", &ip.to_string(), from).await?;
    let (id, _) = state.console.start();
    let mut response = see_other("/console");
    let headers = response.headers_mut();
    let session = cookie_header(request, SESSION_COOKIE, &id, SESSION_LIFETIME.as_secs());
    headers.append(header::SET_COOKIE, session.parse().expect("base64url is a header value"));
    let spent = cookie_header(request, SIGN_IN_COOKIE, "", 0);
    headers.append(header::SET_COOKIE, spent.parse().expect("a cookie header"));
    Ok(response)
}

/// `POST /console/sign-out`
#[handler]
pub async fn sign_out(state: State<'_>, request: &Request, body: Body) -> PageResult {
    posted(&state, request, body).await?;
    if let Some(id) = cookie(request, SESSION_COOKIE) {
        state.console.end(&id);
    }
    let ip = client_ip(&state, request).to_string();
    state.audit.record(Actor::Admin, "console.signed_out", "console", &ip, serde_json::json!({ "ip": ip })).await?;
    let mut response = see_other("/console/sign-in");
    let cleared = cookie_header(request, SESSION_COOKIE, "", 0);
    response.headers_mut().insert(header::SET_COOKIE, cleared.parse().expect("a cookie header"));
    Ok(response)
}
