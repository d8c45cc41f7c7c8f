//! The operator's console (`/console` on the admin listener): server-rendered
//! HTML, plain forms, a few lines of optional script, nothing from a CDN, a
//! strict CSP. Reached through the same tunnel as Swagger UI, never from the
//! internet.
//!
//! - `view`: layout, security headers, session and CSRF checks, errors;
//! - `sign_in`: the admin token in, a session cookie out (rate limited, audited);
//! - `dashboard` (with `charts`, SVG drawn here), `licenses`, `records`
//!   (customers, events, deliveries, audit, flags, keys), `releases`
//!   (publish, yank), `tables` (what
//!   several pages show).
//!
//! Every action calls the admin API's use case with actor `admin`; a refusal
//! shows the domain's message with the API's status.

mod charts;
mod dashboard;
mod licenses;
mod records;
mod releases;
mod sign_in;
mod tables;
mod view;

use poem::{get, handler, post, Response, Route};

const STYLE: &str = include_str!("console.css");
const SCRIPT: &str = include_str!("console.js");

fn asset(content_type: &str, body: &'static str) -> Response {
    let mut response = Response::builder().content_type(content_type).body(body);
    let headers = response.headers_mut();
    headers.insert("Cache-Control", "private, max-age=3600".parse().expect("valid"));
    headers.insert("X-Content-Type-Options", "nosniff".parse().expect("valid"));
    response
}

#[handler]
fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

#[handler]
fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

/// The console's routes, to nest at `/console`.
pub fn routes() -> Route {
    Route::new()
        .at("/", get(dashboard::dashboard))
        .at("/sign-in", get(sign_in::sign_in_form).post(sign_in::sign_in))
        .at("/sign-out", post(sign_in::sign_out))
        .at("/assets/console.css", get(style))
        .at("/assets/console.js", get(script))
        .at("/licenses", get(licenses::licenses_page).post(licenses::mint_license))
        .at("/licenses/new", get(licenses::mint_page))
        .at("/licenses/:key", get(licenses::license_page))
        .at("/licenses/:key/license.lic", get(licenses::download_license))
        .at("/licenses/:key/:action", post(licenses::license_action))
        .at("/machines/:id/free", post(licenses::free_machine))
        .at("/customers", get(records::customers_page))
        .at("/customers/:email", get(records::customer_page))
        .at("/events", get(records::events_page))
        .at("/events/:id", get(records::event_page))
        .at("/events/:id/replay", post(records::replay_event))
        .at("/deliveries", get(records::deliveries_page))
        .at("/deliveries/:id/retry", post(records::retry_delivery))
        .at("/audit", get(records::audit_page))
        .at("/flags", get(records::flags_page))
        .at("/flags/:id/review", post(records::review_flag))
        .at("/keys", get(records::keys_page))
        .at("/releases", get(releases::releases_page))
        .at("/releases/:id/:action", post(releases::release_action))
}
