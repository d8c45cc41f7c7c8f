//! The HTTP shell: two listeners, each an OpenAPI service built by one function
//! used by the server, by `TestClient` tests and by `tessera-server openapi`.
//!
//! - `public/` ([`public_app`]): buyers' apps (activation, usage), storefront
//!   webhooks, the buyer portal, health, JWKS;
//! - `admin/` ([`admin_app`]): the operator's API behind a bearer token, Swagger
//!   UI, `/metrics`;
//! - `console/` (on the admin listener too): the operator's web page;
//! - `errors` (the one error shape and the generic responses), `spec` (the
//!   published documents), and here the two middleware chains.
//!
//! Handlers convert and map; the use cases decide. Nothing of one listener is
//! routed on the other.

mod admin;
mod console;
pub mod errors;
mod public;
pub mod spec;

use std::sync::Arc;

use poem::http::StatusCode;
use poem::{Endpoint, EndpointExt, IntoResponse, Request, Response, Route};
use poem_openapi::OpenApiService;

pub use admin::licenses::{LicenseBody, MintLicenseRequest};

use crate::state::AppState;

/// Request bodies above this get 413 (contract §4).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The operations of each listener, once: the services below build them by `Default`.
pub type PublicApis = (
    public::health::HealthApi,
    public::jwks::JwksApi,
    public::activation::ActivationApi,
    public::usage::UsageApi,
    public::releases::ReleasesApi,
);
pub type AdminApis = (
    public::health::HealthApi,
    admin::import::ImportApi,
    admin::licenses::LicensesApi,
    admin::machines::ActivationsApi,
    admin::storefront_events::StorefrontEventsApi,
    admin::deliveries::DeliveriesApi,
    admin::audit::AuditApi,
    admin::signing_keys::SigningKeysApi,
    admin::stats::StatsApi,
    admin::usage::UsageAdminApi,
    admin::customers::CustomersApi,
    admin::releases::ReleasesApi,
);

/// The public listener's OpenAPI service.
pub fn public_api() -> OpenApiService<PublicApis, ()> {
    OpenApiService::new(PublicApis::default(), "Tessera public API", VERSION).description(
        "Endpoints for buyers' apps and storefronts. Errors are `{code, message}`. Responses of \
             `/v1/activate`, `/v1/validate` and `/v1/heartbeat` carry `Tessera-Signature: kid=\"…\", \
             alg=\"EdDSA\", sig=\"<base64url>\"`, an Ed25519 signature over the exact response body.",
    )
}

/// The admin listener's OpenAPI service.
pub fn admin_api() -> OpenApiService<AdminApis, ()> {
    OpenApiService::new(AdminApis::default(), "Tessera admin API", VERSION).description(
        "The operator's API. Every operation but `GET /health` needs `Authorization: Bearer <admin token>`.",
    )
}

/// Whether `request` uploads a release file: streamed to storage under its own
/// limit (`releases.max_upload_mb`), not [`MAX_BODY_BYTES`].
fn is_artifact_upload(request: &Request) -> bool {
    let path = request.uri().path();
    request.method() == poem::http::Method::PUT
        && path.strip_prefix("/admin/v1/releases/").is_some_and(|rest| rest.split('/').nth(1) == Some("artifacts"))
}

/// Refuses bodies over [`MAX_BODY_BYTES`] before any handler reads them, also
/// when they come without a `Content-Length` (chunked). Release uploads have
/// their own limit.
async fn limit_body<E: Endpoint>(next: Arc<E>, mut request: Request) -> poem::Result<Response> {
    if is_artifact_upload(&request) {
        return next.call(request).await.map(IntoResponse::into_response);
    }
    let too_large = || poem::Error::from_status(StatusCode::PAYLOAD_TOO_LARGE);
    let declared = request
        .headers()
        .get(poem::http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    match declared {
        Some(length) if length > MAX_BODY_BYTES as u64 => return Err(too_large()),
        Some(_) => {}
        None => {
            let body = request.take_body();
            let bytes = body.into_bytes_limit(MAX_BODY_BYTES).await.map_err(|_| too_large())?;
            request.set_body(bytes);
        }
    }
    next.call(request).await.map(IntoResponse::into_response)
}

/// Refuses a NUL character (`%00`) anywhere in the path or query: no key, id
/// or filter holds one, and Postgres could not compare against it, so it is
/// refused the same way on every store.
async fn refuse_nul<E: Endpoint>(next: Arc<E>, request: Request) -> poem::Result<Response> {
    let target = request.uri().path_and_query().map_or("", |target| target.as_str());
    let has_nul = target.as_bytes().windows(3).any(|three| three[0] == b'%' && three[1] == b'0' && three[2] == b'0');
    if has_nul {
        let mut response = errors::ErrorBody::new(
            errors::ErrorCode::InvalidRequest,
            "a NUL character (%00) is not allowed in the path or query",
        )
        .into_response();
        response.set_status(StatusCode::BAD_REQUEST);
        return Ok(response);
    }
    next.call(request).await.map(IntoResponse::into_response)
}

/// The client IP of `request` as the rate limits see it.
pub fn client_ip(limits: &crate::rate_limit::RateLimits, request: &Request) -> std::net::IpAddr {
    let peer = request.remote_addr().as_socket_addr().map(|addr| addr.ip());
    let forwarded = request.headers().get("x-forwarded-for").and_then(|value| value.to_str().ok());
    limits.client_ip(peer, forwarded)
}

/// Whole seconds to wait, rounded up.
fn seconds_to_wait(retry_after: std::time::Duration) -> u64 {
    retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0)
}

/// `Retry-After` and `X-RateLimit-*` on a limited answer (JSON or the portal's HTML).
pub fn set_rate_limit_headers(response: &mut Response, limit: u32, retry_after: std::time::Duration) {
    let seconds = seconds_to_wait(retry_after);
    let headers = response.headers_mut();
    for (name, value) in [
        ("Retry-After", seconds.to_string()),
        ("X-RateLimit-Limit", limit.to_string()),
        ("X-RateLimit-Remaining", "0".to_owned()),
        ("X-RateLimit-Reset", seconds.to_string()),
    ] {
        headers.insert(name, value.parse().expect("digits are a header value"));
    }
}

/// The `429 RATE_LIMITED` answer, with `Retry-After` and `X-RateLimit-*`.
pub fn rate_limited(limit: u32, retry_after: std::time::Duration) -> Response {
    let seconds = seconds_to_wait(retry_after);
    let mut response = errors::ErrorBody::new(
        errors::ErrorCode::RateLimited,
        format!("too many requests from this address; retry in {seconds} s"),
    )
    .into_response();
    response.set_status(StatusCode::TOO_MANY_REQUESTS);
    set_rate_limit_headers(&mut response, limit, retry_after);
    response
}

/// Applies the per-IP, per-route limits (when enabled) and reports the
/// remaining budget in `X-RateLimit-*` headers.
async fn rate_limit<E: Endpoint>(next: Arc<E>, request: Request) -> poem::Result<Response> {
    let state = request.data::<Arc<AppState>>().cloned();
    let verdict = match state.as_ref().and_then(|state| state.rate_limits.as_ref()) {
        Some(limits) => limits.check(request.uri().path(), client_ip(limits, &request)).await,
        None => None,
    };
    match verdict {
        Some(crate::rate_limit::Verdict::Limited { limit, retry_after }) => Ok(rate_limited(limit, retry_after)),
        Some(crate::rate_limit::Verdict::Allowed { limit, remaining }) => {
            let mut response = next.call(request).await.map(IntoResponse::into_response)?;
            let headers = response.headers_mut();
            headers.insert("X-RateLimit-Limit", limit.to_string().parse().expect("digits"));
            headers.insert("X-RateLimit-Remaining", remaining.to_string().parse().expect("digits"));
            Ok(response)
        }
        None => next.call(request).await.map(IntoResponse::into_response),
    }
}

/// The paths whose answers a client must be able to trust offline (contract §4).
pub const SIGNED_PATHS: [&str; 3] = ["/v1/activate", "/v1/validate", "/v1/heartbeat"];

/// The `Tessera-Signature` header value for `body`.
pub fn response_signature(key: &tessera_ring::SigningKey, body: &[u8]) -> String {
    let signature = tessera_ring::b64url(&key.sign(body));
    format!("kid=\"{}\", alg=\"EdDSA\", sig=\"{signature}\"", key.kid)
}

/// Signs the exact body bytes of every answer on [`SIGNED_PATHS`], errors
/// included: a 400 of the request parser, a 405, a 413 and a 429 as well.
async fn sign_responses<E: Endpoint>(next: Arc<E>, request: Request) -> poem::Result<Response> {
    let signed = SIGNED_PATHS.contains(&request.uri().path());
    let state = request.data::<Arc<AppState>>().cloned();
    let mut response = match next.call(request).await {
        Ok(response) => response.into_response(),
        Err(error) => errors::error_response(error),
    };
    if let (true, Some(state)) = (signed, state) {
        let body = response.take_body().into_bytes().await?;
        let header = response_signature(state.keyring.active(), &body);
        response.headers_mut().insert("Tessera-Signature", header.parse().expect("a signature header is ASCII"));
        response.set_body(body);
    }
    Ok(response)
}

/// Path templates (`/admin/v1/licenses/{key}`) and their methods, from a spec.
struct AllowTable(Vec<(Vec<String>, String)>);

impl AllowTable {
    fn from_spec(spec: &serde_json::Value) -> Self {
        let paths = spec["paths"].as_object().cloned().unwrap_or_default();
        let rows = paths
            .into_iter()
            .map(|(path, operations)| {
                let methods: Vec<String> = operations
                    .as_object()
                    .map(|operations| operations.keys().map(|method| method.to_uppercase()).collect())
                    .unwrap_or_default();
                (path.split('/').map(str::to_owned).collect(), methods.join(", "))
            })
            .collect();
        Self(rows)
    }

    /// The methods `path` answers, for the `Allow` header of a 405.
    fn allowed(&self, path: &str) -> Option<&str> {
        let segments: Vec<&str> = path.split('/').collect();
        self.0
            .iter()
            .find(|(template, _)| {
                template.len() == segments.len()
                    && template.iter().zip(&segments).all(|(part, segment)| part.starts_with('{') || part == segment)
            })
            .map(|(_, methods)| methods.as_str())
    }
}

fn allow_table(listener: &str) -> &'static AllowTable {
    static PUBLIC: std::sync::OnceLock<AllowTable> = std::sync::OnceLock::new();
    static ADMIN: std::sync::OnceLock<AllowTable> = std::sync::OnceLock::new();
    if listener == "admin" {
        ADMIN.get_or_init(|| AllowTable::from_spec(&spec::admin_spec()))
    } else {
        PUBLIC.get_or_init(|| AllowTable::from_spec(&spec::public_spec()))
    }
}

/// Which listener a request came in on, for the metrics.
#[derive(Clone, Copy)]
struct Listener(&'static str);

/// Counts every answer and its latency per listener, method, route and status.
async fn measure<E: Endpoint>(next: Arc<E>, request: Request) -> poem::Result<Response> {
    let started = std::time::Instant::now();
    let state = request.data::<Arc<AppState>>().cloned();
    let listener = request.data::<Listener>().map_or("unknown", |listener| listener.0);
    let (method, path) = (request.method().to_string(), request.uri().path().to_owned());
    let mut response = match next.call(request).await {
        Ok(response) => response.into_response(),
        Err(error) => errors::error_response(error),
    };
    // RFC 9110: a 405 says which methods the resource does answer.
    if response.status() == StatusCode::METHOD_NOT_ALLOWED {
        if let Some(methods) = allow_table(listener).allowed(&path) {
            response.headers_mut().insert(poem::http::header::ALLOW, methods.parse().expect("method names"));
        }
    }
    if let Some(state) = state {
        let status = response.status().as_u16();
        let route = if status == 404 { "unmatched".to_owned() } else { crate::metrics::route_of(&path) };
        state.metrics.observe(crate::metrics::RequestLabels { listener, method, route, status }, started.elapsed());
    }
    Ok(response)
}

/// `GET /metrics` (Prometheus text format), behind the admin token like the rest of the listener.
#[poem::handler]
async fn metrics(state: poem::web::Data<&Arc<AppState>>, request: &Request) -> Response {
    let token = request
        .headers()
        .get(poem::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    if !token.is_some_and(|token| state.admin_token.matches(token)) {
        return errors::error_response(poem::Error::from_status(StatusCode::UNAUTHORIZED));
    }
    match state.reports.stats().await {
        Ok(report) => Response::builder()
            .content_type("text/plain; version=0.0.4; charset=utf-8")
            .body(state.metrics.render(&report.stats)),
        Err(error) => {
            let body = match errors::storage(&error) {
                Ok(body) | Err(body) => body,
            };
            let mut response = body.into_response();
            response.set_status(StatusCode::SERVICE_UNAVAILABLE);
            response
        }
    }
}

/// The admin listener's middleware, innermost first: NUL refused, every answer
/// measured, the state attached, bodies limited, any error answered as JSON.
fn admin_middleware(route: Route, state: Arc<AppState>) -> impl Endpoint<Output = Response> {
    route
        .around(refuse_nul)
        .around(measure)
        .data(Listener("admin"))
        .data(state)
        .around(limit_body)
        .catch_all_error(|error| async move { errors::error_response(error) })
}

/// The public listener's middleware, innermost first: NUL refused, rate
/// limits, bodies limited — all inside the response signature, so a 429 or a
/// 413 on a signed path is signed too — then measured, the state attached,
/// any error answered as JSON.
fn public_middleware(route: Route, state: Arc<AppState>) -> impl Endpoint<Output = Response> {
    route
        .around(refuse_nul)
        .around(rate_limit)
        .around(limit_body)
        .around(sign_responses)
        .around(measure)
        .data(Listener("public"))
        .data(state)
        .catch_all_error(|error| async move { errors::error_response(error) })
}

/// `GET /openapi.json`: the completed document of [`spec`].
fn spec_endpoint(document: String) -> impl Endpoint<Output = Response> {
    poem::get(poem::endpoint::make_sync(move |_| {
        Response::builder().content_type("application/json; charset=utf-8").body(document.clone())
    }))
}

/// The public listener: public operations and `/openapi.json`.
pub fn public_app(state: Arc<AppState>) -> impl Endpoint<Output = Response> {
    let route = Route::new()
        .nest("/", public_api())
        .at("/openapi.json", spec_endpoint(spec::to_json(&spec::public_spec())))
        .at("/webhooks/:storefront", poem::post(public::webhooks::receive))
        .at("/portal", poem::get(public::portal::index))
        .at("/portal/redeliver", poem::post(public::portal::redeliver))
        .at("/portal/licenses", poem::get(public::portal::licenses))
        .at("/portal/machines/deactivate", poem::post(public::portal::deactivate))
        .at("/portal/style.css", poem::get(public::portal::style))
        .at("/v1/updates/sparkle/:product/appcast.xml", poem::get(public::releases::sparkle_appcast))
        .at("/v1/downloads/:id/:filename", poem::get(public::releases::download));
    public_middleware(route, state)
}

/// The admin listener: admin operations, `/openapi.json` and Swagger UI at `/docs`.
pub fn admin_app(state: Arc<AppState>) -> impl Endpoint<Output = Response> {
    let api = admin_api();
    let spec = spec::to_json(&spec::admin_spec());
    // Swagger UI shows the completed document, not the derived one.
    let docs = api.swagger_ui_html().replace(&api.spec(), &spec);
    let docs = poem::endpoint::make_sync(move |_| poem::web::Html(docs.clone()));
    admin_middleware(
        Route::new()
            .nest("/", api)
            .at("/openapi.json", spec_endpoint(spec))
            .at("/docs", docs)
            .at("/metrics", poem::get(metrics))
            .nest("/console", console::routes()),
        state,
    )
}
