//! What buyers' apps and updaters fetch (contract §4, §9):
//!
//! - `GET /v1/releases/latest`: the newest release a license may use;
//! - `GET /v1/artifacts/{id}`: `302` to a signed, expiring download link;
//! - `GET /v1/updates/tauri/…` and `/v1/updates/sparkle/…/appcast.xml`: the
//!   feeds Tauri's and Sparkle's built-in updaters read unchanged;
//! - `GET /v1/downloads/{id}/{filename}?token=…`: the link itself, serving
//!   the bytes with `Range`, `ETag` and the file's type and name.
//!
//! The credential is the license token, a lease token or the license key
//! (`Authorization: Bearer …`; the feeds also take `?license_key=`, as
//! updaters are configured with a URL). Token expiry is not checked here: the
//! license's current state is, so an expired license with perpetual fallback
//! still reaches what it kept.

use std::sync::Arc;

use futures::StreamExt;
use poem::http::{header, HeaderMap, StatusCode};
use poem::web::Data;
use poem::{Body, IntoResponse, Request, Response};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};
use tessera_domain::issuance::{LEASE_TOKEN_TYPE, LICENSE_TOKEN_TYPE};
use tessera_domain::license::LicenseKey;
use tessera_domain::release::{
    Arch, Artifact, ByteRange, Channel, DownloadError, DownloadLinkError, LinkError, LinkUse, Offer, OfferError,
    OfferQuery, Platform, StorageError, Version,
};
use tessera_ring::TokenVerifier;
use time::format_description::well_known::{Rfc2822, Rfc3339};
use uuid::Uuid;

use crate::http::errors::{internal, storage, ErrorBody, ErrorCode};
use crate::state::AppState;

#[derive(Tags)]
enum PublicTags {
    /// Releases, downloads and update feeds for licensed buyers.
    Releases,
}

/// Why a buyer's request for releases got no file.
#[derive(Debug, ApiResponse)]
pub enum BuyerFailure {
    /// A malformed parameter (`INVALID_REQUEST`, `INVALID_KEY`, `INVALID_APP_VERSION`).
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// No credential, or a token whose signature does not verify (`UNAUTHORIZED`).
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// The license may use no such release: `NOT_FOUND` (no such license or
    /// file), `REVOKED`, `SUSPENDED`, `EXPIRED`, `VERSION_MISMATCH`,
    /// `CHANNEL_NOT_INCLUDED`.
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// Nothing published matches the product, platform, arch and channel.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// The database is unavailable; retry shortly.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

impl BuyerFailure {
    fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest(ErrorBody::new(ErrorCode::InvalidRequest, message))
    }

    /// The status and body, for the plain handlers (downloads, appcast).
    fn into_plain(self) -> Response {
        let (status, body) = match self {
            Self::BadRequest(body) => (StatusCode::BAD_REQUEST, body),
            Self::Unauthorized(body) => (StatusCode::UNAUTHORIZED, body),
            Self::Forbidden(body) => (StatusCode::FORBIDDEN, body),
            Self::NotFound(body) => (StatusCode::NOT_FOUND, body),
            Self::Internal(body) => (StatusCode::INTERNAL_SERVER_ERROR, body),
            Self::Unavailable(body) => (StatusCode::SERVICE_UNAVAILABLE, body),
        };
        let mut response = body.into_response();
        response.set_status(status);
        response
    }
}

impl From<OfferError> for BuyerFailure {
    fn from(error: OfferError) -> Self {
        match error {
            OfferError::UnknownLicense => Self::Forbidden(ErrorBody::new(ErrorCode::NotFound, "no such license")),
            OfferError::Refused(refusal) => Self::Forbidden(ErrorBody::new(refusal_code(refusal), error.to_string())),
            OfferError::NothingPublished => {
                Self::NotFound(ErrorBody::new(ErrorCode::NotFound, "no published release matches"))
            }
            OfferError::Repository(error) => match storage(&error) {
                Ok(body) => Self::Unavailable(body),
                Err(body) => Self::Internal(body),
            },
        }
    }
}

impl From<LinkError> for BuyerFailure {
    fn from(error: LinkError) -> Self {
        match error {
            LinkError::Offer(error) => error.into(),
            LinkError::Sign(error) => Self::Internal(internal(&error)),
        }
    }
}

fn refusal_code(refusal: tessera_domain::release::entitlement::Refusal) -> ErrorCode {
    use tessera_domain::release::entitlement::Refusal;
    match refusal {
        Refusal::NotOffered => ErrorCode::NotFound,
        Refusal::Revoked => ErrorCode::Revoked,
        Refusal::Suspended => ErrorCode::Suspended,
        Refusal::Expired => ErrorCode::Expired,
        Refusal::VersionMismatch => ErrorCode::VersionMismatch,
        Refusal::ChannelNotIncluded => ErrorCode::ChannelNotIncluded,
    }
}

/// The license key a request presents: `Authorization: Bearer` with a
/// license token, a lease token or the key itself, else `?license_key=`.
fn buyer_key(
    verifier: &TokenVerifier,
    headers: &HeaderMap,
    query_key: Option<&str>,
) -> Result<LicenseKey, BuyerFailure> {
    let unauthorized = |message: String| BuyerFailure::Unauthorized(ErrorBody::new(ErrorCode::Unauthorized, message));
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|value| !value.is_empty());
    let presented = match (bearer, query_key) {
        (Some(bearer), _) => bearer,
        (None, Some(key)) => key,
        (None, None) => {
            return Err(unauthorized("send `Authorization: Bearer <license token, lease token or license key>`".into()))
        }
    };
    if presented.matches('.').count() == 2 {
        let typ = TokenVerifier::peek_type(presented).unwrap_or_default();
        let expected = if typ == LEASE_TOKEN_TYPE { LEASE_TOKEN_TYPE } else { LICENSE_TOKEN_TYPE };
        let verified = verifier
            .verify(presented, expected, i64::MAX, false)
            .map_err(|error| unauthorized(format!("the token does not verify: {error}")))?;
        let subject = verified.claims.get("sub").and_then(|sub| sub.as_str()).unwrap_or_default();
        return LicenseKey::parse(subject).map_err(|_| unauthorized("the token names no license key".into()));
    }
    LicenseKey::parse(presented)
        .map_err(|error| BuyerFailure::BadRequest(ErrorBody::new(ErrorCode::InvalidKey, error.to_string())))
}

fn parsed<T, E: std::fmt::Display>(
    text: Option<&str>,
    parse: fn(&str) -> Result<T, E>,
) -> Result<Option<T>, BuyerFailure> {
    text.filter(|text| !text.is_empty())
        .map(parse)
        .transpose()
        .map_err(|error| BuyerFailure::bad_request(error.to_string()))
}

/// One file of an offered release.
#[derive(Debug, Object)]
pub struct OfferedArtifact {
    pub id: String,
    pub filename: String,
    pub platform: String,
    pub arch: String,
    pub size: u64,
    /// Hex SHA-256 of the bytes: check the download against it.
    pub sha256: String,
    /// Base64 Ed25519 signature of the bytes by key `signature_kid` of `/.well-known/jwks.json`.
    pub signature: String,
    pub signature_kid: String,
    pub content_type: String,
    /// `GET` it with the same credential: `302` to a signed, expiring download link.
    pub url: String,
}

/// The newest release a license may use, with its files for the platform asked.
#[derive(Debug, Object)]
pub struct OfferBody {
    pub product: String,
    pub version: String,
    pub channel: String,
    #[oai(nullable)]
    pub notes: Option<String>,
    pub published_at: time::OffsetDateTime,
    pub artifacts: Vec<OfferedArtifact>,
}

impl OfferBody {
    fn of(offer: Offer, base_url: &str) -> Self {
        let release = offer.release;
        Self {
            product: release.product,
            version: release.version.to_string(),
            channel: release.channel.to_string(),
            notes: release.notes,
            published_at: release.published_at.unwrap_or(release.created_at),
            artifacts: offer
                .artifacts
                .into_iter()
                .map(|artifact| OfferedArtifact {
                    url: format!("{base_url}/v1/artifacts/{}", artifact.id),
                    id: artifact.id.to_string(),
                    content_type: artifact.content_type().to_owned(),
                    filename: artifact.filename.as_str().to_owned(),
                    platform: artifact.platform.to_string(),
                    arch: artifact.arch.to_string(),
                    size: artifact.size,
                    sha256: artifact.sha256,
                    signature: artifact.signature,
                    signature_kid: artifact.signature_kid,
                })
                .collect(),
        }
    }
}

#[derive(Debug, ApiResponse)]
pub enum LinkResponse {
    /// A signed download link, valid for minutes (`releases.link_minutes`).
    #[oai(status = 302)]
    Found(#[oai(header = "Location")] String, #[oai(header = "Cache-Control")] String),
}

/// What Tauri's updater reads from a dynamic update server.
#[derive(Debug, Object)]
pub struct TauriUpdate {
    pub version: String,
    /// A signed download link (valid for `releases.feed_link_hours`).
    pub url: String,
    /// The updater signature uploaded with the file (the content of its `.sig`).
    pub signature: String,
    #[oai(nullable)]
    pub notes: Option<String>,
    /// RFC 3339.
    pub pub_date: String,
}

#[derive(Debug, ApiResponse)]
pub enum TauriResponse {
    /// A newer release this license may use.
    #[oai(status = 200)]
    Update(Json<TauriUpdate>),
    /// Up to date (or nothing newer this license may use).
    #[oai(status = 204)]
    UpToDate,
}

/// The platform Tauri names a target by (`darwin` is macOS).
fn tauri_platform(target: &str) -> Result<Platform, BuyerFailure> {
    let name = match target {
        "darwin" => "macos",
        other => other,
    };
    Platform::parse(name).map_err(|error| BuyerFailure::bad_request(error.to_string()))
}

#[derive(Default)]
pub struct ReleasesApi;

#[OpenApi(tag = "PublicTags::Releases")]
impl ReleasesApi {
    /// The newest release this license may use, with its files for the
    /// platform and arch asked (every file when omitted). Authorized by
    /// `Authorization: Bearer <license token, lease token or license key>`.
    #[oai(path = "/v1/releases/latest", method = "get", operation_id = "latestRelease")]
    async fn latest(
        &self,
        state: Data<&Arc<AppState>>,
        request: &Request,
        /// A product slug.
        #[oai(validator(max_length = 64))]
        product: Query<String>,
        /// `windows`, `macos`, `linux`, …
        #[oai(validator(max_length = 32))]
        platform: Query<Option<String>>,
        /// `x86_64`, `aarch64`, …
        #[oai(validator(max_length = 32))]
        arch: Query<Option<String>>,
        /// Default `stable`.
        #[oai(validator(max_length = 32))]
        channel: Query<Option<String>>,
    ) -> Result<Json<OfferBody>, BuyerFailure> {
        let key = buyer_key(&state.buyer_tokens, request.headers(), None)?;
        let query = OfferQuery {
            product: product.0,
            platform: parsed(platform.0.as_deref(), Platform::parse)?,
            arch: parsed(arch.0.as_deref(), Arch::parse)?,
            channel: parsed(channel.0.as_deref(), Channel::parse)?,
        };
        let offer = state.releases.latest(&key, &query).await?;
        Ok(Json(OfferBody::of(offer, &state.public_base_url)))
    }

    /// A signed, expiring link to one file: `302` to it. The link serves the
    /// bytes with `Range` (resumable), `ETag` and the file's name and type.
    #[oai(path = "/v1/artifacts/:id", method = "get", operation_id = "downloadArtifact")]
    async fn artifact(
        &self,
        state: Data<&Arc<AppState>>,
        request: &Request,
        id: Path<String>,
    ) -> Result<LinkResponse, BuyerFailure> {
        let key = buyer_key(&state.buyer_tokens, request.headers(), None)?;
        let Ok(id) = id.0.parse::<Uuid>() else {
            return Err(BuyerFailure::Forbidden(ErrorBody::new(ErrorCode::NotFound, "no such file")));
        };
        let artifact = state.releases.authorize_download(&key, id).await?;
        let link = state.releases.link(&key, &artifact, LinkUse::Direct)?;
        Ok(LinkResponse::Found(download_url(&state.public_base_url, &artifact, &link.token), "no-store".into()))
    }

    /// Tauri's dynamic update server: the newest release this license may use
    /// when it is newer than `current_version`, else `204`. Only files
    /// uploaded with an `updater_signature` are offered (Tauri verifies it).
    #[oai(
        path = "/v1/updates/tauri/:product/:target/:arch/:current_version",
        method = "get",
        operation_id = "tauriUpdate"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn tauri(
        &self,
        state: Data<&Arc<AppState>>,
        request: &Request,
        product: Path<String>,
        /// `linux`, `windows` or `darwin` (Tauri's `{{target}}`).
        target: Path<String>,
        /// `x86_64`, `aarch64`, `i686`, `armv7` (Tauri's `{{arch}}`).
        arch: Path<String>,
        /// The running app's version (Tauri's `{{current_version}}`).
        current_version: Path<String>,
        /// The license key, when the updater cannot send a header.
        #[oai(validator(max_length = 64))]
        license_key: Query<Option<String>>,
        /// Default `stable`.
        #[oai(validator(max_length = 32))]
        channel: Query<Option<String>>,
    ) -> Result<TauriResponse, BuyerFailure> {
        let key = buyer_key(&state.buyer_tokens, request.headers(), license_key.0.as_deref())?;
        let current = Version::parse(&current_version.0).map_err(|error| {
            BuyerFailure::BadRequest(ErrorBody::new(ErrorCode::InvalidAppVersion, error.to_string()))
        })?;
        let query = OfferQuery {
            product: product.0,
            platform: Some(tauri_platform(&target.0)?),
            arch: Some(Arch::parse(&arch.0).map_err(|error| BuyerFailure::bad_request(error.to_string()))?),
            channel: parsed(channel.0.as_deref(), Channel::parse)?,
        };
        let Some(offer) = state.releases.update_for(&key, &query, &current).await? else {
            return Ok(TauriResponse::UpToDate);
        };
        let Some(artifact) = offer.artifacts.iter().find(|artifact| artifact.updater_signature.is_some()) else {
            return Ok(TauriResponse::UpToDate);
        };
        let link = state.releases.link(&key, artifact, LinkUse::Feed)?;
        let release = &offer.release;
        Ok(TauriResponse::Update(Json(TauriUpdate {
            version: release.version.to_string(),
            url: download_url(&state.public_base_url, artifact, &link.token),
            signature: artifact.updater_signature.clone().unwrap_or_default(),
            notes: release.notes.clone(),
            pub_date: release.published_at.unwrap_or(release.created_at).format(&Rfc3339).unwrap_or_default(),
        })))
    }
}

/// Where a download link points: the file's name last, so a browser or
/// `curl -O` saves it under that name.
pub fn download_url(base_url: &str, artifact: &Artifact, token: &str) -> String {
    format!("{base_url}/v1/downloads/{}/{}?token={token}", artifact.id, encoded_filename(artifact))
}

/// The file name percent-encoded (a space as `%20`), for a URL path and
/// `Content-Disposition`'s `filename*`.
fn encoded_filename(artifact: &Artifact) -> String {
    form_urlencoded::byte_serialize(artifact.filename.as_str().as_bytes()).collect::<String>().replace('+', "%20")
}

fn xml_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// `GET /v1/updates/sparkle/{product}/appcast.xml`: every release this
/// license may use (newest first) with its macOS file, each signed
/// (`sparkle:edSignature`) by Tessera's key — the app embeds that key
/// (`SUPublicEDKey`, the JWKS `x` as standard base64).
#[poem::handler]
pub async fn sparkle_appcast(
    state: Data<&Arc<AppState>>,
    request: &Request,
    product: poem::web::Path<String>,
    query: poem::web::Query<SparkleQuery>,
) -> Response {
    match appcast(&state, request, product.0, &query.0).await {
        Ok(xml) => Response::builder()
            .content_type("application/rss+xml; charset=utf-8")
            .header(header::CACHE_CONTROL, "no-store")
            .body(xml),
        Err(failure) => failure.into_plain(),
    }
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct SparkleQuery {
    license_key: Option<String>,
    channel: Option<String>,
    arch: Option<String>,
}

async fn appcast(
    state: &AppState,
    request: &Request,
    product: String,
    query: &SparkleQuery,
) -> Result<String, BuyerFailure> {
    let key = buyer_key(&state.buyer_tokens, request.headers(), query.license_key.as_deref())?;
    let offer_query = OfferQuery {
        product,
        platform: Some(Platform::parse("macos").expect("a platform word")),
        arch: parsed(query.arch.as_deref(), Arch::parse)?,
        channel: parsed(query.channel.as_deref(), Channel::parse)?,
    };
    let offers = state.releases.usable(&key, &offer_query).await?;
    let mut items = String::new();
    for offer in &offers {
        let Some(artifact) = offer.artifacts.first() else { continue };
        let link = state.releases.link(&key, artifact, LinkUse::Feed)?;
        let release = &offer.release;
        let version = xml_escape(&release.version.to_string());
        let published = release.published_at.unwrap_or(release.created_at).format(&Rfc2822).unwrap_or_default();
        let notes = release
            .notes
            .as_deref()
            .map(|notes| format!("\n      <description>{}</description>", xml_escape(notes)))
            .unwrap_or_default();
        items.push_str(&format!(
            "    <item>\n      <title>{version}</title>\n      <pubDate>{published}</pubDate>\n      \
             <sparkle:version>{version}</sparkle:version>\n      \
             <sparkle:shortVersionString>{version}</sparkle:shortVersionString>{notes}\n      \
             <enclosure url=\"{url}\" length=\"{length}\" type=\"{kind}\" sparkle:edSignature=\"{signature}\"/>\n    </item>\n",
            url = xml_escape(&download_url(&state.public_base_url, artifact, &link.token)),
            length = artifact.size,
            kind = xml_escape(artifact.content_type()),
            signature = xml_escape(&artifact.signature),
        ));
    }
    let title = xml_escape(&offer_query.product);
    Ok(format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
         <rss version=\"2.0\" xmlns:sparkle=\"http://www.andymatuschak.org/xml-namespaces/sparkle\">\n  \
         <channel>\n    <title>{title}</title>\n{items}  </channel>\n</rss>\n"
    ))
}

#[derive(Debug, serde::Deserialize)]
pub struct DownloadQuery {
    token: Option<String>,
}

/// The first and last byte of a `Range: bytes=…` header over `size` bytes:
/// `None` for no (or an unusable, hence ignored) header, `Err` for a range
/// wholly past the end (416). One range only; a multi-range asks for all.
fn requested_range(headers: &HeaderMap, size: u64) -> Result<Option<ByteRange>, ()> {
    let Some(spec) = headers.get(header::RANGE).and_then(|value| value.to_str().ok()) else { return Ok(None) };
    let Some(spec) = spec.trim().strip_prefix("bytes=") else { return Ok(None) };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((first, last)) = spec.split_once('-') else { return Ok(None) };
    let (first, last) = (first.trim(), last.trim());
    let range = match (first.parse::<u64>(), last.parse::<u64>()) {
        (Ok(first), Ok(last)) if first <= last => ByteRange { first, last: last.min(size.saturating_sub(1)) },
        (Ok(first), Err(_)) if last.is_empty() => ByteRange { first, last: size.saturating_sub(1) },
        (Err(_), Ok(suffix)) if first.is_empty() && suffix > 0 => {
            ByteRange { first: size.saturating_sub(suffix), last: size.saturating_sub(1) }
        }
        _ => return Ok(None),
    };
    if size == 0 || range.first >= size {
        return Err(());
    }
    Ok(Some(range))
}

fn plain_error(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Response {
    let mut response = ErrorBody::new(code, message).into_response();
    response.set_status(status);
    response
}

/// `GET /v1/downloads/{id}/{filename}?token=…`: a signed link's bytes.
/// `410 EXPIRED` for an expired link or a file no longer offered, `403` for
/// a forged or altered one or a license no longer allowed.
#[poem::handler]
pub async fn download(
    state: Data<&Arc<AppState>>,
    request: &Request,
    params: poem::web::Path<(String, String)>,
    query: poem::web::Query<DownloadQuery>,
) -> Response {
    let Some(token) = query.0.token.as_deref().filter(|token| !token.is_empty()) else {
        return plain_error(StatusCode::FORBIDDEN, ErrorCode::Unauthorized, "a download link carries its `token`");
    };
    // A request from the first byte is a download; a later range resumes one,
    // and a revalidation (`If-None-Match`) downloads nothing new.
    let fresh = requested_range(request.headers(), u64::MAX).ok().flatten().is_none_or(|range| range.first == 0)
        && !request.headers().contains_key(header::IF_NONE_MATCH);
    let Ok(artifact_id) = params.0 .0.parse::<Uuid>() else {
        return plain_error(StatusCode::FORBIDDEN, ErrorCode::Unauthorized, "this link is for another file");
    };
    let artifact = match state.releases.open_download(token, artifact_id, fresh).await {
        Ok(artifact) => artifact,
        Err(DownloadError::Link(DownloadLinkError::Expired)) => {
            return plain_error(StatusCode::GONE, ErrorCode::Expired, DownloadLinkError::Expired.to_string())
        }
        Err(error @ DownloadError::Link(DownloadLinkError::Invalid(_))) => {
            return plain_error(StatusCode::FORBIDDEN, ErrorCode::Unauthorized, error.to_string())
        }
        Err(error @ DownloadError::Gone) => {
            return plain_error(StatusCode::GONE, ErrorCode::NotFound, error.to_string())
        }
        Err(error @ DownloadError::Refused(refusal)) => {
            return plain_error(StatusCode::FORBIDDEN, refusal_code(refusal), error.to_string())
        }
        Err(DownloadError::Repository(error)) => {
            return match storage(&error) {
                Ok(body) => BuyerFailure::Unavailable(body).into_plain(),
                Err(body) => BuyerFailure::Internal(body).into_plain(),
            }
        }
    };
    serve(&state, request.headers(), &artifact).await
}

/// The artifact's bytes, whole or the range asked for.
async fn serve(state: &AppState, headers: &HeaderMap, artifact: &Artifact) -> Response {
    let etag = format!("\"{}\"", artifact.sha256);
    let not_modified = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(',').any(|tag| tag.trim() == etag || tag.trim() == "*"));
    if not_modified {
        return Response::builder().status(StatusCode::NOT_MODIFIED).header(header::ETAG, etag).finish();
    }
    // `If-Range` with another ETag: the file changed, so send all of it.
    let if_range_matches =
        headers.get(header::IF_RANGE).and_then(|value| value.to_str().ok()).is_none_or(|value| value.trim() == etag);
    let range = match requested_range(headers, artifact.size) {
        Ok(range) => range.filter(|_| if_range_matches),
        Err(()) => {
            return Response::builder()
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .header(header::CONTENT_RANGE, format!("bytes */{}", artifact.size))
                .content_type("application/json")
                .body(r#"{"code":"INVALID_REQUEST","message":"the range lies outside the file"}"#)
        }
    };
    let stream = match state.releases.store().get(&artifact.storage_key, range).await {
        Ok(stream) => stream,
        Err(error @ (StorageError::NotFound(_) | StorageError::Unexpected(_))) => {
            return BuyerFailure::Internal(internal(&error)).into_plain()
        }
        Err(StorageError::RangeNotSatisfiable) => {
            return plain_error(StatusCode::RANGE_NOT_SATISFIABLE, ErrorCode::InvalidRequest, "range outside the file")
        }
        Err(error @ StorageError::Unavailable(_)) => {
            tracing::warn!(error = %crate::http::errors::chain(&error), "artifact storage unavailable");
            return plain_error(StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Unavailable, "storage unavailable; retry");
        }
    };
    let body = Body::from_bytes_stream(stream.map(|chunk| chunk.map_err(std::io::Error::other)));
    let disposition = format!(
        "attachment; filename=\"{}\"; filename*=UTF-8''{}",
        artifact.filename.as_str(),
        encoded_filename(artifact)
    );
    let builder = Response::builder()
        .header(header::CONTENT_TYPE, artifact.content_type())
        .header(header::CONTENT_DISPOSITION, disposition)
        .header(header::ETAG, etag)
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::CACHE_CONTROL, "private, no-transform");
    match range {
        Some(range) => builder
            .status(StatusCode::PARTIAL_CONTENT)
            .header(header::CONTENT_RANGE, format!("bytes {}-{}/{}", range.first, range.last, artifact.size))
            .header(header::CONTENT_LENGTH, range.byte_count())
            .body(body),
        None => builder.header(header::CONTENT_LENGTH, artifact.size).body(body),
    }
}
