use std::pin::Pin;

use async_trait::async_trait;
use thiserror::Error;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Artifact, Release, ReleaseFilter, ReleaseStatus, Version};
use crate::audit::AuditEvent;
use crate::page::{Page, PageRequest};
use crate::repository::RepositoryError;

#[derive(Debug, Error)]
pub enum CreateReleaseError {
    /// The product already has a release of this version (on any channel).
    #[error("{product} {version} exists already")]
    VersionTaken { product: String, version: Version },
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

#[derive(Debug, Error)]
pub enum AddArtifactError {
    /// The release is not a draft (any more): its files no longer change.
    #[error("the release is not a draft")]
    NotDraft,
    #[error("no release {0}")]
    NoRelease(Uuid),
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// Releases and their artifacts' rows (the bytes are in an [`ArtifactStore`]).
#[async_trait]
pub trait ReleaseRepository: Send + Sync {
    /// Stores a new release with its audit event.
    /// MUST return `VersionTaken` when the product has a release of an equal
    /// version (under any concurrency: a unique index), else `Repository`.
    async fn create_release(&self, release: &Release, audit: &AuditEvent) -> Result<(), CreateReleaseError>;

    /// MUST return `Ok(None)` for an unknown id.
    async fn find_release(&self, id: Uuid) -> Result<Option<Release>, RepositoryError>;

    /// Newest first (by id, which is time-ordered).
    async fn list_releases(&self, filter: &ReleaseFilter, page: &PageRequest)
        -> Result<Page<Release>, RepositoryError>;

    /// Every published release of `product`, in no particular order (a
    /// product has tens or hundreds, not millions).
    async fn published_releases(&self, product: &str) -> Result<Vec<Release>, RepositoryError>;

    /// Moves the release from `expected` to `to` at `at` (setting
    /// `published_at` or `yanked_at`), with its audit event, in one
    /// transaction. MUST return `Ok(false)` and change nothing when the
    /// release is not in `expected` (a concurrent publish or yank won).
    async fn set_release_status(
        &self,
        id: Uuid,
        expected: ReleaseStatus,
        to: ReleaseStatus,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<bool, RepositoryError>;

    /// Adds `artifact`, replacing the release's artifact of the same file
    /// name (a retried upload), with its audit event — only while the
    /// release is a draft, checked in the same transaction. Returns the
    /// replaced artifact, whose bytes the caller may delete.
    /// MUST return `NotDraft` for a published or yanked release, `NoRelease`
    /// for an unknown one.
    async fn put_artifact(&self, artifact: &Artifact, audit: &AuditEvent)
        -> Result<Option<Artifact>, AddArtifactError>;

    /// A release's artifacts, by file name.
    async fn artifacts_of(&self, release_id: Uuid) -> Result<Vec<Artifact>, RepositoryError>;

    /// MUST return `Ok(None)` for an unknown id.
    async fn find_artifact(&self, id: Uuid) -> Result<Option<Artifact>, RepositoryError>;

    /// Counts one download of the artifact and stores its audit event.
    /// MUST return `Ok(false)` for an unknown artifact.
    async fn count_download(&self, id: Uuid, audit: &AuditEvent) -> Result<bool, RepositoryError>;
}

/// A failure of the artifact storage.
#[derive(Debug, Error)]
pub enum StorageError {
    /// No object under that key.
    #[error("no stored object `{0}`")]
    NotFound(String),
    /// The range asked for lies outside the object.
    #[error("range outside the object")]
    RangeNotSatisfiable,
    /// The storage cannot be reached now: the caller answers 503.
    #[error("the artifact storage is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("unexpected artifact storage error")]
    Unexpected(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The bytes `first..=last` of an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub first: u64,
    pub last: u64,
}

impl ByteRange {
    /// How many bytes the range spans (an inclusive range always spans one or more).
    pub fn byte_count(&self) -> u64 {
        self.last.saturating_sub(self.first) + 1
    }
}

/// An object's bytes, a chunk at a time.
pub type ByteStream = Pin<Box<dyn futures_core::Stream<Item = Result<bytes::Bytes, StorageError>> + Send>>;

/// Where artifacts' bytes live: a directory, S3-compatible object storage.
/// Objects are written whole and never change; the repository's rows point
/// only at objects already stored.
#[async_trait]
pub trait ArtifactStore: Send + Sync {
    /// Stores the complete, local file at `staged` under `key`. The object
    /// becomes visible whole or not at all: a failed or interrupted put
    /// leaves nothing readable under `key`. MUST return `Unavailable` when
    /// the storage cannot be reached.
    async fn put_file(&self, key: &str, staged: &std::path::Path) -> Result<(), StorageError>;

    /// The object's bytes, all of them or `range`.
    /// MUST return `NotFound` for an unknown key and `RangeNotSatisfiable` for
    /// a range past its end.
    async fn get(&self, key: &str, range: Option<ByteRange>) -> Result<ByteStream, StorageError>;

    /// The object's size. MUST return `NotFound` for an unknown key.
    async fn size(&self, key: &str) -> Result<u64, StorageError>;

    /// Removes the object; removing an absent one is not an error.
    async fn delete(&self, key: &str) -> Result<(), StorageError>;
}
