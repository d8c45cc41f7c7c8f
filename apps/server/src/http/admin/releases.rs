//! `/admin/v1/releases`: the operator creates a release, uploads its files
//! (streamed, hashed and signed on the way to storage), publishes and yanks.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Binary, Json};
use poem_openapi::{Enum, Object, OpenApi, Tags};
use tessera_domain::audit::Actor;
use tessera_domain::page::PageRequest;
use tessera_domain::release::{
    Arch, Artifact, ChangeReleaseError, Channel, CreateError, CreateRelease, FileName, Platform, Release,
    ReleaseFilter, ReleaseStatus, ReleaseWithArtifacts, StorageError, UploadError, Version,
};
use time::OffsetDateTime;
use uuid::Uuid;

use super::auth::AdminAuth;
use super::page::Page;
use crate::http::errors::{
    admin_failure, internal, invalid_cursor, ChangeFailure, CreateFailure, Created, ErrorBody, ErrorCode, ReadFailure,
    ShowFailure,
};
use crate::state::AppState;
use crate::uploads::{stage, StageError};

#[derive(Tags)]
enum AdminTags {
    /// Releases of a product and their files.
    Releases,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum ReleaseStatusDto {
    Draft,
    Published,
    Yanked,
}

impl From<ReleaseStatus> for ReleaseStatusDto {
    fn from(status: ReleaseStatus) -> Self {
        match status {
            ReleaseStatus::Draft => Self::Draft,
            ReleaseStatus::Published => Self::Published,
            ReleaseStatus::Yanked => Self::Yanked,
        }
    }
}

impl From<ReleaseStatusDto> for ReleaseStatus {
    fn from(status: ReleaseStatusDto) -> Self {
        match status {
            ReleaseStatusDto::Draft => Self::Draft,
            ReleaseStatusDto::Published => Self::Published,
            ReleaseStatusDto::Yanked => Self::Yanked,
        }
    }
}

/// One file of a release.
#[derive(Debug, Clone, Object)]
pub struct ArtifactBody {
    pub id: String,
    pub filename: String,
    /// `windows`, `macos`, `linux`, … or `any`.
    pub platform: String,
    /// `x86_64`, `aarch64`, `universal`, … or `any`.
    pub arch: String,
    pub size: u64,
    /// Hex SHA-256 of the bytes.
    pub sha256: String,
    /// Base64 Ed25519 signature of the bytes by key `signature_kid` (Sparkle's `edSignature`).
    pub signature: String,
    pub signature_kid: String,
    /// The updater signature uploaded with the file (Tauri's `.sig`), served as is.
    #[oai(nullable)]
    pub updater_signature: Option<String>,
    pub content_type: String,
    pub downloads: u64,
    pub created_at: OffsetDateTime,
}

impl From<Artifact> for ArtifactBody {
    fn from(artifact: Artifact) -> Self {
        Self {
            id: artifact.id.to_string(),
            content_type: artifact.content_type().to_owned(),
            filename: artifact.filename.as_str().to_owned(),
            platform: artifact.platform.to_string(),
            arch: artifact.arch.to_string(),
            size: artifact.size,
            sha256: artifact.sha256,
            signature: artifact.signature,
            signature_kid: artifact.signature_kid,
            updater_signature: artifact.updater_signature,
            downloads: artifact.downloads,
            created_at: artifact.created_at,
        }
    }
}

/// A release with its files.
#[derive(Debug, Clone, Object)]
pub struct ReleaseBody {
    pub id: String,
    pub product: String,
    pub version: String,
    pub channel: String,
    #[oai(nullable)]
    pub notes: Option<String>,
    pub status: ReleaseStatusDto,
    pub created_at: OffsetDateTime,
    #[oai(nullable)]
    pub published_at: Option<OffsetDateTime>,
    #[oai(nullable)]
    pub yanked_at: Option<OffsetDateTime>,
    pub artifacts: Vec<ArtifactBody>,
}

impl ReleaseBody {
    fn of(release: Release, artifacts: Vec<Artifact>) -> Self {
        Self {
            id: release.id.to_string(),
            product: release.product,
            version: release.version.to_string(),
            channel: release.channel.to_string(),
            notes: release.notes,
            status: release.status.into(),
            created_at: release.created_at,
            published_at: release.published_at,
            yanked_at: release.yanked_at,
            artifacts: artifacts.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<ReleaseWithArtifacts> for ReleaseBody {
    fn from(found: ReleaseWithArtifacts) -> Self {
        Self::of(found.release, found.artifacts)
    }
}

/// A new release (a draft until published).
#[derive(Debug, Clone, Object)]
pub struct NewRelease {
    /// A product slug of the configuration.
    #[oai(validator(max_length = 64))]
    pub product: String,
    /// Semantic version, e.g. `1.4.0` or `2.0.0-beta.3` (a leading `v` is accepted).
    #[oai(validator(max_length = 64))]
    pub version: String,
    /// Default `stable`.
    #[oai(validator(max_length = 32))]
    pub channel: Option<String>,
    /// Release notes shown by updaters (Markdown or plain text).
    #[oai(validator(max_length = 20000))]
    pub notes: Option<String>,
}

admin_failure! {
    /// Why an upload failed.
    UploadFailure {
        /// A malformed file name, platform, arch or updater signature, or a body cut off.
        BadRequest = 400,
        NotFound = 404,
        /// The release is not a draft any more: its files no longer change.
        Conflict = 409,
        /// The file is over `releases.max_upload_mb`.
        PayloadTooLarge = 413,
    }
}

fn bad_request(code: ErrorCode, message: impl Into<String>) -> poem_openapi::payload::Json<ErrorBody> {
    ErrorBody::new(code, message)
}

fn release_id(text: &str) -> Option<Uuid> {
    text.parse::<Uuid>().ok()
}

fn no_release(text: &str) -> poem_openapi::payload::Json<ErrorBody> {
    ErrorBody::new(ErrorCode::NotFound, format!("no release {text}"))
}

fn storage_failure(error: &StorageError) -> UploadFailure {
    match error {
        StorageError::Unavailable(_) => {
            tracing::warn!(error = %crate::http::errors::chain(error), "artifact storage unavailable");
            UploadFailure::Unavailable(ErrorBody::new(
                ErrorCode::Unavailable,
                "the artifact storage is unavailable; try again shortly",
            ))
        }
        _ => UploadFailure::Internal(internal(error)),
    }
}

impl From<UploadError> for UploadFailure {
    fn from(error: UploadError) -> Self {
        match error {
            UploadError::NoRelease(id) => Self::NotFound(no_release(&id.to_string())),
            UploadError::NotDraft(_) => Self::Conflict(ErrorBody::new(ErrorCode::InvalidTransition, error.to_string())),
            UploadError::InvalidUpdaterSignature => {
                Self::BadRequest(bad_request(ErrorCode::InvalidRequest, error.to_string()))
            }
            UploadError::Storage(error) => storage_failure(&error),
            UploadError::Repository(error) => error.into(),
        }
    }
}

impl From<StageError> for UploadFailure {
    fn from(error: StageError) -> Self {
        match error {
            StageError::TooLarge(_) => {
                Self::PayloadTooLarge(ErrorBody::new(ErrorCode::PayloadTooLarge, error.to_string()))
            }
            StageError::CutOff(_) => Self::BadRequest(bad_request(ErrorCode::InvalidRequest, error.to_string())),
            StageError::Disk(_) => Self::Internal(internal(&error)),
        }
    }
}

impl From<ChangeReleaseError> for ChangeFailure {
    fn from(error: ChangeReleaseError) -> Self {
        match error {
            ChangeReleaseError::NoRelease(id) => Self::NotFound(no_release(&id.to_string())),
            ChangeReleaseError::WrongStatus(_) | ChangeReleaseError::NoArtifacts => {
                Self::Conflict(ErrorBody::new(ErrorCode::InvalidTransition, error.to_string()))
            }
            ChangeReleaseError::Repository(error) => error.into(),
        }
    }
}

#[derive(Default)]
pub struct ReleasesApi;

#[OpenApi(prefix_path = "/admin/v1/releases", tag = "AdminTags::Releases")]
impl ReleasesApi {
    /// Create a release: a draft that takes files until it is published.
    #[oai(path = "/", method = "post", operation_id = "createRelease")]
    async fn create(
        &self,
        state: Data<&Arc<AppState>>,
        _auth: AdminAuth,
        body: Json<NewRelease>,
    ) -> Result<Created<ReleaseBody>, CreateFailure> {
        let NewRelease { product, version, channel, notes } = body.0;
        let invalid = |error: &dyn std::fmt::Display| {
            CreateFailure::BadRequest(bad_request(ErrorCode::InvalidRequest, error.to_string()))
        };
        let version = Version::parse(&version).map_err(|error| invalid(&error))?;
        let channel = channel.as_deref().map(Channel::parse).transpose().map_err(|error| invalid(&error))?;
        let request = CreateRelease { product, version, channel, notes };
        match state.releases.create(request, Actor::Admin).await {
            Ok(release) => Ok(Created::Created(Json(ReleaseBody::of(release, vec![])))),
            Err(error @ CreateError::UnknownProduct(_)) => {
                Err(CreateFailure::BadRequest(bad_request(ErrorCode::UnknownProduct, error.to_string())))
            }
            Err(error @ CreateError::NotesTooLong) => Err(invalid(&error)),
            Err(error @ CreateError::VersionTaken { .. }) => {
                Err(CreateFailure::Conflict(ErrorBody::new(ErrorCode::InvalidTransition, error.to_string())))
            }
            Err(CreateError::Repository(error)) => Err(error.into()),
        }
    }

    /// Releases, newest first, with their files.
    #[oai(path = "/", method = "get", operation_id = "listReleases")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        state: Data<&Arc<AppState>>,
        _auth: AdminAuth,
        product: Query<Option<String>>,
        channel: Query<Option<String>>,
        status: Query<Option<ReleaseStatusDto>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "500")))] limit: Query<Option<u32>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<Page<ReleaseBody>>, ReadFailure> {
        if let Some(body) = invalid_cursor(cursor.0.as_deref()) {
            return Err(ReadFailure::BadRequest(body));
        }
        let channel = channel
            .0
            .as_deref()
            .map(Channel::parse)
            .transpose()
            .map_err(|error| ReadFailure::BadRequest(bad_request(ErrorCode::InvalidRequest, error.to_string())))?;
        let filter = ReleaseFilter { product: product.0, channel, status: status.0.map(Into::into) };
        let page = state.releases.list(&filter, &PageRequest::new(limit.0, cursor.0)).await?;
        Ok(Json(Page { items: page.items.into_iter().map(Into::into).collect(), next_cursor: page.next_cursor }))
    }

    /// A release with its files.
    #[oai(path = "/:id", method = "get", operation_id = "getRelease")]
    async fn get(
        &self,
        state: Data<&Arc<AppState>>,
        _auth: AdminAuth,
        id: Path<String>,
    ) -> Result<Json<ReleaseBody>, ShowFailure> {
        let uuid = release_id(&id.0).ok_or_else(|| ShowFailure::NotFound(no_release(&id.0)))?;
        let found = state.releases.find(uuid).await?.ok_or_else(|| ShowFailure::NotFound(no_release(&id.0)))?;
        Ok(Json(found.into()))
    }

    /// Upload a file of a draft release: the raw bytes as the body, streamed
    /// to storage (up to `releases.max_upload_mb`; the 64 KiB body limit does
    /// not apply). Its size, SHA-256 and Ed25519 signature are recorded. A
    /// file of the same name replaces the earlier upload, so a failed upload
    /// is simply sent again.
    #[oai(path = "/:id/artifacts/:filename", method = "put", operation_id = "uploadArtifact")]
    #[allow(clippy::too_many_arguments)]
    async fn upload(
        &self,
        state: Data<&Arc<AppState>>,
        _auth: AdminAuth,
        id: Path<String>,
        /// The name buyers download it as (letters, digits, `.`, `-`, `_`, `+`, space).
        filename: Path<String>,
        /// `windows`, `macos`, `linux`, … Default `any`.
        platform: Query<Option<String>>,
        /// `x86_64`, `aarch64`, `universal`, … Default `any`.
        arch: Query<Option<String>>,
        /// The updater's own signature of the file (the content of Tauri's `.sig`), served in the Tauri feed.
        updater_signature: Query<Option<String>>,
        body: Binary<poem::Body>,
    ) -> Result<Created<ArtifactBody>, UploadFailure> {
        let invalid = |error: &dyn std::fmt::Display| {
            UploadFailure::BadRequest(bad_request(ErrorCode::InvalidRequest, error.to_string()))
        };
        let uuid = release_id(&id.0).ok_or_else(|| UploadFailure::NotFound(no_release(&id.0)))?;
        let filename = FileName::parse(&filename.0).map_err(|error| invalid(&error))?;
        let platform = platform.0.as_deref().map(Platform::parse).transpose().map_err(|error| invalid(&error))?;
        let arch = arch.0.as_deref().map(Arch::parse).transpose().map_err(|error| invalid(&error))?;
        let plan = state
            .releases
            .plan_upload(
                uuid,
                filename,
                platform.unwrap_or_else(Platform::any),
                arch.unwrap_or_else(Arch::any),
                updater_signature.0,
            )
            .await?;
        let staged = stage(body.0, &state.uploads).await?;
        let stored = staged.sign(&state.keyring).await?;
        state
            .releases
            .store()
            .put_file(&plan.storage_key, &staged.path)
            .await
            .map_err(|error| storage_failure(&error))?;
        let artifact = state.releases.record_upload(plan, stored, Actor::Admin).await?;
        Ok(Created::Created(Json(artifact.into())))
    }

    /// Publish a draft: from now on it is offered to the licenses it is for.
    #[oai(path = "/:id/publish", method = "post", operation_id = "publishRelease")]
    async fn publish(
        &self,
        state: Data<&Arc<AppState>>,
        _auth: AdminAuth,
        id: Path<String>,
    ) -> Result<Json<ReleaseBody>, ChangeFailure> {
        let uuid = release_id(&id.0).ok_or_else(|| ChangeFailure::NotFound(no_release(&id.0)))?;
        Ok(Json(state.releases.publish(uuid, Actor::Admin).await?.into()))
    }

    /// Yank a release: gone from every feed, and its download links stop working.
    #[oai(path = "/:id/yank", method = "post", operation_id = "yankRelease")]
    async fn yank(
        &self,
        state: Data<&Arc<AppState>>,
        _auth: AdminAuth,
        id: Path<String>,
    ) -> Result<Json<ReleaseBody>, ChangeFailure> {
        let uuid = release_id(&id.0).ok_or_else(|| ChangeFailure::NotFound(no_release(&id.0)))?;
        Ok(Json(state.releases.yank(uuid, Actor::Admin).await?.into()))
    }
}
