//! `ReleaseRepository` on the in-memory store, and an in-memory `ArtifactStore`.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use tessera_domain::audit::AuditEvent;
use tessera_domain::page::{Page, PageRequest};
use tessera_domain::release::{
    AddArtifactError, Artifact, ArtifactStore, ByteRange, ByteStream, CreateReleaseError, Release, ReleaseFilter,
    ReleaseRepository, ReleaseStatus, StorageError,
};
use tessera_domain::repository::RepositoryError;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::store::{page_of, InMemoryStore};

#[async_trait]
impl ReleaseRepository for InMemoryStore {
    async fn create_release(&self, release: &Release, audit: &AuditEvent) -> Result<(), CreateReleaseError> {
        let mut state = self.state()?;
        let taken = state
            .releases
            .iter()
            .any(|existing| existing.product == release.product && existing.version == release.version);
        if taken {
            return Err(CreateReleaseError::VersionTaken {
                product: release.product.clone(),
                version: release.version.clone(),
            });
        }
        state.releases.push(release.clone());
        state.audit.push(audit.clone());
        Ok(())
    }

    async fn find_release(&self, id: Uuid) -> Result<Option<Release>, RepositoryError> {
        Ok(self.state()?.releases.iter().find(|release| release.id == id).cloned())
    }

    async fn list_releases(
        &self,
        filter: &ReleaseFilter,
        page: &PageRequest,
    ) -> Result<Page<Release>, RepositoryError> {
        let state = self.state()?;
        let matching = state.releases.iter().filter(|release| filter.matches(release)).cloned();
        Ok(page_of(matching, |release| release.id.to_string(), page))
    }

    async fn published_releases(&self, product: &str) -> Result<Vec<Release>, RepositoryError> {
        let state = self.state()?;
        Ok(state
            .releases
            .iter()
            .filter(|release| release.product == product && release.status == ReleaseStatus::Published)
            .cloned()
            .collect())
    }

    async fn set_release_status(
        &self,
        id: Uuid,
        expected: ReleaseStatus,
        to: ReleaseStatus,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<bool, RepositoryError> {
        let mut state = self.state()?;
        let Some(release) = state.releases.iter_mut().find(|release| release.id == id && release.status == expected)
        else {
            return Ok(false);
        };
        release.status = to;
        match to {
            ReleaseStatus::Published => release.published_at = Some(at),
            ReleaseStatus::Yanked => release.yanked_at = Some(at),
            ReleaseStatus::Draft => {}
        }
        state.audit.push(audit.clone());
        Ok(true)
    }

    async fn put_artifact(
        &self,
        artifact: &Artifact,
        audit: &AuditEvent,
    ) -> Result<Option<Artifact>, AddArtifactError> {
        let mut state = self.state()?;
        let release = state
            .releases
            .iter()
            .find(|release| release.id == artifact.release_id)
            .ok_or(AddArtifactError::NoRelease(artifact.release_id))?;
        if release.status != ReleaseStatus::Draft {
            return Err(AddArtifactError::NotDraft);
        }
        let replaced = state
            .artifacts
            .iter()
            .position(|existing| existing.release_id == artifact.release_id && existing.filename == artifact.filename)
            .map(|index| state.artifacts.remove(index));
        state.artifacts.push(artifact.clone());
        state.audit.push(audit.clone());
        Ok(replaced)
    }

    async fn artifacts_of(&self, release_id: Uuid) -> Result<Vec<Artifact>, RepositoryError> {
        let state = self.state()?;
        let mut artifacts: Vec<Artifact> =
            state.artifacts.iter().filter(|artifact| artifact.release_id == release_id).cloned().collect();
        artifacts.sort_by(|a, b| a.filename.as_str().cmp(b.filename.as_str()));
        Ok(artifacts)
    }

    async fn find_artifact(&self, id: Uuid) -> Result<Option<Artifact>, RepositoryError> {
        Ok(self.state()?.artifacts.iter().find(|artifact| artifact.id == id).cloned())
    }

    async fn count_download(&self, id: Uuid, audit: &AuditEvent) -> Result<bool, RepositoryError> {
        let mut state = self.state()?;
        let Some(artifact) = state.artifacts.iter_mut().find(|artifact| artifact.id == id) else { return Ok(false) };
        artifact.downloads += 1;
        state.audit.push(audit.clone());
        Ok(true)
    }
}

/// Objects in a map: for domain and HTTP tests.
#[derive(Default)]
pub struct InMemoryArtifactStore {
    objects: Mutex<HashMap<String, Vec<u8>>>,
}

impl InMemoryArtifactStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// The keys stored, sorted.
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.objects.lock().expect("artifact map").keys().cloned().collect();
        keys.sort();
        keys
    }
}

#[async_trait]
impl ArtifactStore for InMemoryArtifactStore {
    async fn put_file(&self, key: &str, staged: &std::path::Path) -> Result<(), StorageError> {
        let bytes = std::fs::read(staged).map_err(|error| StorageError::Unexpected(error.into()))?;
        self.objects.lock().expect("artifact map").insert(key.to_owned(), bytes);
        Ok(())
    }

    async fn get(&self, key: &str, range: Option<ByteRange>) -> Result<ByteStream, StorageError> {
        let objects = self.objects.lock().expect("artifact map");
        let bytes = objects.get(key).ok_or_else(|| StorageError::NotFound(key.to_owned()))?;
        let slice = match range {
            None => bytes.clone(),
            Some(range) if range.last < bytes.len() as u64 && range.first <= range.last => {
                bytes[range.first as usize..=range.last as usize].to_vec()
            }
            Some(_) => return Err(StorageError::RangeNotSatisfiable),
        };
        Ok(Box::pin(futures_util::stream::once(std::future::ready(Ok(bytes::Bytes::from(slice))))))
    }

    async fn size(&self, key: &str) -> Result<u64, StorageError> {
        let objects = self.objects.lock().expect("artifact map");
        objects.get(key).map(|bytes| bytes.len() as u64).ok_or_else(|| StorageError::NotFound(key.to_owned()))
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.objects.lock().expect("artifact map").remove(key);
        Ok(())
    }
}
