use std::sync::Arc;

use serde_json::json;
use thiserror::Error;
use uuid::Uuid;

use super::entitlement::{self, Refusal};
use super::{
    AddArtifactError, Arch, Artifact, ArtifactStore, Channel, CreateReleaseError, DownloadLink, DownloadLinkError,
    DownloadLinks, FileName, LinkUse, Platform, Release, ReleaseFilter, ReleaseRepository, ReleaseStatus,
    ReleaseWithArtifacts, StorageError, Version, MAX_NOTES_CHARS,
};
use crate::audit::{Actor, AuditEvent};
use crate::catalog::{Catalog, Tier};
use crate::clock::{now_seconds, Clock};
use crate::license::{License, LicenseKey, LicenseRepository};
use crate::page::{Page, PageRequest};
use crate::random::{new_id, RandomSource};
use crate::repository::RepositoryError;

/// What the operator asks for to create a release (already parsed at the edge).
#[derive(Debug, Clone)]
pub struct CreateRelease {
    pub product: String,
    pub version: Version,
    pub channel: Option<Channel>,
    pub notes: Option<String>,
}

#[derive(Debug, Error)]
pub enum CreateError {
    #[error("no product `{0}`")]
    UnknownProduct(String),
    #[error("notes must be at most {MAX_NOTES_CHARS} characters")]
    NotesTooLong,
    #[error("{product} {version} exists already")]
    VersionTaken { product: String, version: Version },
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

#[derive(Debug, Error)]
pub enum UploadError {
    #[error("no release {0}")]
    NoRelease(Uuid),
    #[error("the release is {0}: its files no longer change (create a new version)")]
    NotDraft(ReleaseStatus),
    #[error("the updater signature must be 1-4096 printable characters")]
    InvalidUpdaterSignature,
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

#[derive(Debug, Error)]
pub enum ChangeReleaseError {
    #[error("no release {0}")]
    NoRelease(Uuid),
    #[error("the release is {0}")]
    WrongStatus(ReleaseStatus),
    #[error("a release needs at least one file before it is published")]
    NoArtifacts,
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

#[derive(Debug, Error)]
pub enum OfferError {
    /// No such license, or the token's license is gone.
    #[error("no such license")]
    UnknownLicense,
    /// The license may use no release matching the request.
    #[error("this license may not use that release ({})", .0.code())]
    Refused(Refusal),
    /// Nothing published matches the request (product, platform, channel).
    #[error("no release matches")]
    NothingPublished,
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

#[derive(Debug, Error)]
pub enum LinkError {
    #[error(transparent)]
    Offer(#[from] OfferError),
    #[error(transparent)]
    Sign(#[from] crate::issuance::SignError),
}

impl From<RepositoryError> for LinkError {
    fn from(error: RepositoryError) -> Self {
        Self::Offer(OfferError::Repository(error))
    }
}

/// What a buyer's portal page offers for one license: the newest release it
/// may use and every file of it, each with a signed link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloads {
    pub release: Release,
    pub files: Vec<(Artifact, DownloadLink)>,
}

/// Why a download link serves no bytes.
#[derive(Debug, Error)]
pub enum DownloadError {
    #[error(transparent)]
    Link(#[from] DownloadLinkError),
    /// The file's release was yanked (or the file replaced) since the link was made.
    #[error("this file is no longer offered")]
    Gone,
    /// The license may no longer use it (revoked, suspended, expired since).
    #[error("this license may not use that release ({})", .0.code())]
    Refused(Refusal),
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// Where an upload goes, decided before the first byte is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadPlan {
    pub release: Release,
    pub artifact_id: Uuid,
    pub filename: FileName,
    pub platform: Platform,
    pub arch: Arch,
    pub storage_key: String,
    /// The operator's updater signature sent with the file (Tauri's `.sig`).
    pub updater_signature: Option<String>,
}

/// What the shell measured and signed while streaming the upload to storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    pub size: u64,
    pub sha256: String,
    pub signature: String,
    pub signature_kid: String,
}

/// What a buyer's app asks the newest release for.
#[derive(Debug, Clone, Default)]
pub struct OfferQuery {
    pub product: String,
    pub platform: Option<Platform>,
    pub arch: Option<Arch>,
    /// Default `stable`.
    pub channel: Option<Channel>,
}

/// A release a license may use, with the files that match the query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub release: Release,
    pub artifacts: Vec<Artifact>,
}

pub struct ReleaseDeps {
    pub releases: Arc<dyn ReleaseRepository>,
    pub licenses: Arc<dyn LicenseRepository>,
    pub store: Arc<dyn ArtifactStore>,
    pub catalog: Arc<Catalog>,
    pub clock: Arc<dyn Clock>,
    pub random: Arc<dyn RandomSource>,
    pub links: DownloadLinks,
}

/// The release use cases: the operator's (create, upload, publish, yank,
/// list) and the buyer's (newest release, download, update feeds).
#[derive(Clone)]
pub struct ReleaseService {
    releases: Arc<dyn ReleaseRepository>,
    licenses: Arc<dyn LicenseRepository>,
    store: Arc<dyn ArtifactStore>,
    catalog: Arc<Catalog>,
    clock: Arc<dyn Clock>,
    random: Arc<dyn RandomSource>,
    links: DownloadLinks,
}

impl ReleaseService {
    pub fn new(deps: ReleaseDeps) -> Self {
        let ReleaseDeps { releases, licenses, store, catalog, clock, random, links } = deps;
        Self { releases, licenses, store, catalog, clock, random, links }
    }

    /// The artifact storage, for the shell to stream bytes in and out.
    pub fn store(&self) -> &Arc<dyn ArtifactStore> {
        &self.store
    }

    fn audit(
        &self,
        actor: Actor,
        action: &str,
        entity_type: &str,
        entity_id: String,
        details: serde_json::Value,
    ) -> AuditEvent {
        let now = self.clock.now();
        AuditEvent {
            id: new_id(self.random.as_ref(), now),
            at: now_seconds(self.clock.as_ref()),
            actor,
            action: action.to_owned(),
            entity_type: entity_type.to_owned(),
            entity_id,
            details,
        }
    }

    pub async fn create(&self, request: CreateRelease, actor: Actor) -> Result<Release, CreateError> {
        if self.catalog.product(&request.product).is_none() {
            return Err(CreateError::UnknownProduct(request.product));
        }
        let notes = request.notes.map(|notes| notes.trim().to_owned()).filter(|notes| !notes.is_empty());
        if notes.as_ref().is_some_and(|notes| notes.chars().count() > MAX_NOTES_CHARS || notes.contains('\0')) {
            return Err(CreateError::NotesTooLong);
        }
        let now = now_seconds(self.clock.as_ref());
        let release = Release {
            id: new_id(self.random.as_ref(), self.clock.now()),
            product: request.product,
            version: request.version,
            channel: request.channel.unwrap_or_else(Channel::stable),
            notes,
            status: ReleaseStatus::Draft,
            created_at: now,
            published_at: None,
            yanked_at: None,
        };
        let audit = self.audit(
            actor,
            "release.created",
            "release",
            release.id.to_string(),
            json!({"product": release.product, "version": release.version.to_string(), "channel": release.channel.as_str()}),
        );
        self.releases.create_release(&release, &audit).await.map_err(|error| match error {
            CreateReleaseError::VersionTaken { product, version } => CreateError::VersionTaken { product, version },
            CreateReleaseError::Repository(error) => CreateError::Repository(error),
        })?;
        Ok(release)
    }

    /// Checks that `release_id` takes files and that the request is whole,
    /// and names where this file goes — before the shell reads a byte of the body.
    pub async fn plan_upload(
        &self,
        release_id: Uuid,
        filename: FileName,
        platform: Platform,
        arch: Arch,
        updater_signature: Option<String>,
    ) -> Result<UploadPlan, UploadError> {
        let updater_signature = updater_signature.map(|text| text.trim().to_owned());
        if updater_signature
            .as_ref()
            .is_some_and(|text| text.is_empty() || text.len() > 4096 || text.chars().any(char::is_control))
        {
            return Err(UploadError::InvalidUpdaterSignature);
        }
        let release = self.releases.find_release(release_id).await?.ok_or(UploadError::NoRelease(release_id))?;
        if release.status != ReleaseStatus::Draft {
            return Err(UploadError::NotDraft(release.status));
        }
        let artifact_id = new_id(self.random.as_ref(), self.clock.now());
        let storage_key =
            format!("{}/{}/{}/{}", release.product, release.version, artifact_id, filename.as_str().replace(' ', "_"));
        Ok(UploadPlan { release, artifact_id, filename, platform, arch, storage_key, updater_signature })
    }

    /// Records a file the shell stored under `plan.storage_key`. A file of the
    /// same name uploaded before is replaced and its bytes deleted. If the
    /// release stopped being a draft meanwhile, the new bytes are deleted.
    pub async fn record_upload(
        &self,
        plan: UploadPlan,
        stored: StoredFile,
        actor: Actor,
    ) -> Result<Artifact, UploadError> {
        let artifact = Artifact {
            id: plan.artifact_id,
            release_id: plan.release.id,
            filename: plan.filename,
            platform: plan.platform,
            arch: plan.arch,
            size: stored.size,
            sha256: stored.sha256,
            signature: stored.signature,
            signature_kid: stored.signature_kid,
            updater_signature: plan.updater_signature,
            storage_key: plan.storage_key,
            downloads: 0,
            created_at: now_seconds(self.clock.as_ref()),
        };
        let audit = self.audit(
            actor,
            "release.artifact_uploaded",
            "release",
            plan.release.id.to_string(),
            json!({
                "artifact_id": artifact.id, "filename": artifact.filename.as_str(), "platform": artifact.platform.as_str(),
                "arch": artifact.arch.as_str(), "size": artifact.size, "sha256": artifact.sha256,
            }),
        );
        match self.releases.put_artifact(&artifact, &audit).await {
            Ok(replaced) => {
                if let Some(replaced) = replaced {
                    // Best effort: an orphaned object is harmless, only space.
                    let _ = self.store.delete(&replaced.storage_key).await;
                }
                Ok(artifact)
            }
            Err(error) => {
                let _ = self.store.delete(&artifact.storage_key).await;
                Err(match error {
                    AddArtifactError::NotDraft => {
                        let status = self
                            .releases
                            .find_release(artifact.release_id)
                            .await?
                            .map_or(ReleaseStatus::Yanked, |release| release.status);
                        UploadError::NotDraft(status)
                    }
                    AddArtifactError::NoRelease(id) => UploadError::NoRelease(id),
                    AddArtifactError::Repository(error) => UploadError::Repository(error),
                })
            }
        }
    }

    pub async fn find(&self, id: Uuid) -> Result<Option<ReleaseWithArtifacts>, RepositoryError> {
        let Some(release) = self.releases.find_release(id).await? else { return Ok(None) };
        let artifacts = self.releases.artifacts_of(id).await?;
        Ok(Some(ReleaseWithArtifacts { release, artifacts }))
    }

    pub async fn list(
        &self,
        filter: &ReleaseFilter,
        page: &PageRequest,
    ) -> Result<Page<ReleaseWithArtifacts>, RepositoryError> {
        let releases = self.releases.list_releases(filter, page).await?;
        let mut items = Vec::with_capacity(releases.items.len());
        for release in releases.items {
            let artifacts = self.releases.artifacts_of(release.id).await?;
            items.push(ReleaseWithArtifacts { release, artifacts });
        }
        Ok(Page { items, next_cursor: releases.next_cursor })
    }

    /// Draft → published: from now on offered to the licenses it is for.
    pub async fn publish(&self, id: Uuid, actor: Actor) -> Result<ReleaseWithArtifacts, ChangeReleaseError> {
        let current = self.find(id).await?.ok_or(ChangeReleaseError::NoRelease(id))?;
        if current.release.status != ReleaseStatus::Draft {
            return Err(ChangeReleaseError::WrongStatus(current.release.status));
        }
        if current.artifacts.is_empty() {
            return Err(ChangeReleaseError::NoArtifacts);
        }
        self.change(current.release, &[ReleaseStatus::Draft], ReleaseStatus::Published, "release.published", actor)
            .await
    }

    /// Published (or draft) → yanked: gone from every feed and download.
    pub async fn yank(&self, id: Uuid, actor: Actor) -> Result<ReleaseWithArtifacts, ChangeReleaseError> {
        let current = self.releases.find_release(id).await?.ok_or(ChangeReleaseError::NoRelease(id))?;
        self.change(
            current,
            &[ReleaseStatus::Published, ReleaseStatus::Draft],
            ReleaseStatus::Yanked,
            "release.yanked",
            actor,
        )
        .await
    }

    async fn change(
        &self,
        release: Release,
        from: &[ReleaseStatus],
        to: ReleaseStatus,
        action: &str,
        actor: Actor,
    ) -> Result<ReleaseWithArtifacts, ChangeReleaseError> {
        if !from.contains(&release.status) {
            return Err(ChangeReleaseError::WrongStatus(release.status));
        }
        let now = now_seconds(self.clock.as_ref());
        let audit = self.audit(
            actor,
            action,
            "release",
            release.id.to_string(),
            json!({"product": release.product, "version": release.version.to_string(), "from": release.status.as_str()}),
        );
        if !self.releases.set_release_status(release.id, release.status, to, now, &audit).await? {
            let status = self.releases.find_release(release.id).await?.map_or(to, |release| release.status);
            return Err(ChangeReleaseError::WrongStatus(status));
        }
        self.find(release.id).await?.ok_or(ChangeReleaseError::NoRelease(release.id))
    }

    fn tier_of(&self, license: &License) -> Option<&Tier> {
        self.catalog.product(&license.product).and_then(|product| product.tier(&license.tier))
    }

    /// The license of `key`, refused at once when revoked or suspended (so a
    /// revoked buyer hears "revoked", not "nothing published").
    async fn license(&self, key: &LicenseKey) -> Result<License, OfferError> {
        let license = self.licenses.find_by_key(key).await?.ok_or(OfferError::UnknownLicense)?;
        match entitlement::standing_refusal(&license, self.clock.now()) {
            Some(refusal) => Err(OfferError::Refused(refusal)),
            None => Ok(license),
        }
    }

    /// Every published release of the query's product on its channel that
    /// has a file for its platform and arch, with those files.
    async fn candidates(&self, query: &OfferQuery) -> Result<Vec<Offer>, RepositoryError> {
        let channel = query.channel.clone().unwrap_or_else(Channel::stable);
        let mut offers = Vec::new();
        for release in self.releases.published_releases(&query.product).await? {
            if release.channel != channel {
                continue;
            }
            let artifacts: Vec<Artifact> = self
                .releases
                .artifacts_of(release.id)
                .await?
                .into_iter()
                .filter(|artifact| query.platform.as_ref().is_none_or(|platform| artifact.platform.serves(platform)))
                .filter(|artifact| query.arch.as_ref().is_none_or(|arch| artifact.arch.serves(arch)))
                .collect();
            if !artifacts.is_empty() {
                offers.push(Offer { release, artifacts });
            }
        }
        Ok(offers)
    }

    /// The newest release `key` may use that matches `query`.
    pub async fn latest(&self, key: &LicenseKey, query: &OfferQuery) -> Result<Offer, OfferError> {
        let license = self.license(key).await?;
        if license.product != query.product {
            return Err(OfferError::Refused(Refusal::NotOffered));
        }
        let candidates = self.candidates(query).await?;
        if candidates.is_empty() {
            return Err(OfferError::NothingPublished);
        }
        let now = self.clock.now();
        let newest = entitlement::newest_usable(
            &license,
            self.tier_of(&license),
            candidates.iter().map(|offer| &offer.release),
            now,
        )
        .map_err(OfferError::Refused)?
        .id;
        Ok(candidates.into_iter().find(|offer| offer.release.id == newest).expect("the newest is a candidate"))
    }

    /// The update for an app running `current`: the newest usable release
    /// newer than it, or `None` when the app is up to date.
    pub async fn update_for(
        &self,
        key: &LicenseKey,
        query: &OfferQuery,
        current: &Version,
    ) -> Result<Option<Offer>, OfferError> {
        match self.latest(key, query).await {
            Ok(offer) if offer.release.version > *current => Ok(Some(offer)),
            Ok(_) | Err(OfferError::NothingPublished) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Every release `key` may use that matches `query`, newest first (a
    /// Sparkle appcast lists them all; the updater picks).
    pub async fn usable(&self, key: &LicenseKey, query: &OfferQuery) -> Result<Vec<Offer>, OfferError> {
        let license = self.license(key).await?;
        if license.product != query.product {
            return Err(OfferError::Refused(Refusal::NotOffered));
        }
        let now = self.clock.now();
        let tier = self.tier_of(&license);
        let mut usable: Vec<Offer> = self
            .candidates(query)
            .await?
            .into_iter()
            .filter(|offer| entitlement::may_use(&license, tier, &offer.release, now).is_ok())
            .collect();
        usable.sort_by(|a, b| b.release.version.cmp(&a.release.version));
        Ok(usable)
    }

    /// Authorizes `key` to download artifact `id`. An artifact the license
    /// may not use is refused the same way whether it exists or not.
    pub async fn authorize_download(&self, key: &LicenseKey, id: Uuid) -> Result<Artifact, OfferError> {
        let license = self.license(key).await?;
        let (artifact, _) = self.entitled(&license, id).await?;
        Ok(artifact)
    }

    /// The artifact `id` and its release, if `license` may use them.
    async fn entitled(&self, license: &License, id: Uuid) -> Result<(Artifact, Release), OfferError> {
        let Some(artifact) = self.releases.find_artifact(id).await? else {
            return Err(OfferError::Refused(Refusal::NotOffered));
        };
        let release =
            self.releases.find_release(artifact.release_id).await?.ok_or(OfferError::Refused(Refusal::NotOffered))?;
        entitlement::may_use(license, self.tier_of(license), &release, self.clock.now())
            .map_err(OfferError::Refused)?;
        Ok((artifact, release))
    }

    /// The newest stable release `key` may use, with a link to each of its
    /// files (for every platform), for the buyer's portal page; `None` when
    /// it may use none (nothing published, expired, revoked…).
    pub async fn downloads(&self, key: &LicenseKey, product: &str) -> Result<Option<Downloads>, LinkError> {
        let query = OfferQuery { product: product.to_owned(), ..OfferQuery::default() };
        let offer = match self.latest(key, &query).await {
            Ok(offer) => offer,
            Err(OfferError::Repository(error)) => return Err(error.into()),
            Err(OfferError::Refused(_) | OfferError::NothingPublished | OfferError::UnknownLicense) => return Ok(None),
        };
        let mut files = Vec::with_capacity(offer.artifacts.len());
        for artifact in offer.artifacts {
            let link = self.link(key, &artifact, LinkUse::Feed)?;
            files.push((artifact, link));
        }
        Ok(Some(Downloads { release: offer.release, files }))
    }

    /// A signed link for `key` to fetch `artifact`, which the caller has
    /// authorized (by [`Self::authorize_download`] or an offer).
    pub fn link(&self, key: &LicenseKey, artifact: &Artifact, used: LinkUse) -> Result<DownloadLink, LinkError> {
        Ok(self.links.issue(key, artifact.id, used)?)
    }

    /// The file `artifact_id` through a download link, checked again now: the
    /// link is genuine, unexpired and for that file, its release still published, its license still
    /// allowed. A download from the first byte (`fresh`; a resumed one is not)
    /// is counted and audited, actor `buyer`.
    pub async fn open_download(&self, token: &str, artifact_id: Uuid, fresh: bool) -> Result<Artifact, DownloadError> {
        let grant = self.links.open(token)?;
        if grant.artifact_id != artifact_id {
            return Err(DownloadLinkError::Invalid("this link is for another file".into()).into());
        }
        let Some(license) = self.licenses.find_by_key(&grant.key).await? else {
            return Err(DownloadError::Refused(Refusal::NotOffered));
        };
        let (artifact, release) = match self.entitled(&license, grant.artifact_id).await {
            Ok(found) => found,
            Err(OfferError::Refused(Refusal::NotOffered)) => return Err(DownloadError::Gone),
            Err(OfferError::Refused(refusal)) => return Err(DownloadError::Refused(refusal)),
            Err(OfferError::Repository(error)) => return Err(DownloadError::Repository(error)),
            Err(OfferError::UnknownLicense | OfferError::NothingPublished) => return Err(DownloadError::Gone),
        };
        if fresh {
            let audit = self.audit(
                Actor::Buyer,
                "artifact.downloaded",
                "license",
                license.key.to_string(),
                json!({"artifact_id": artifact.id, "filename": artifact.filename.as_str(), "version": release.version.to_string()}),
            );
            self.releases.count_download(artifact.id, &audit).await?;
        }
        Ok(artifact)
    }
}
