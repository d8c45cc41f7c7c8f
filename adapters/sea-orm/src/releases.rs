//! Releases and artifacts on sea-orm. A file joins a release only while it
//! is a draft: the artifact's transaction first makes a conditional no-op
//! update of the release row (`WHERE status = 'draft'`), which on Postgres
//! holds the row against a concurrent publish until the artifact is in, and on
//! SQLite runs on the one writer.

use async_trait::async_trait;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, TransactionTrait};
use tessera_domain::audit::AuditEvent;
use tessera_domain::page::{Page, PageRequest};
use tessera_domain::release::{
    AddArtifactError, Arch, Artifact, Channel, CreateReleaseError, FileName, Platform, Release, ReleaseFilter,
    ReleaseRepository, ReleaseStatus, Version,
};
use tessera_domain::repository::RepositoryError;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::entities::{artifacts, audit_events, releases};
use crate::errors::{repository_error, unique_violation};
use crate::paging::newest_first;
use crate::rows::{audit_row, corrupt, from_timestamp, timestamp};
use crate::SeaOrmStore;

fn release_row(release: &Release) -> releases::Model {
    releases::Model {
        id: release.id.to_string(),
        product: release.product.clone(),
        version: release.version.to_string(),
        channel: release.channel.as_str().to_owned(),
        notes: release.notes.clone(),
        status: release.status.to_string(),
        created_at: timestamp(release.created_at),
        published_at: release.published_at.map(timestamp),
        yanked_at: release.yanked_at.map(timestamp),
    }
}

fn release_from_row(row: releases::Model) -> Result<Release, RepositoryError> {
    Ok(Release {
        id: row.id.parse().map_err(|error| corrupt("release id", error))?,
        product: row.product,
        version: Version::parse(&row.version).map_err(|error| corrupt("release version", error))?,
        channel: Channel::parse(&row.channel).map_err(|error| corrupt("release channel", error))?,
        notes: row.notes,
        status: row.status.parse().map_err(|error| corrupt("release status", error))?,
        created_at: from_timestamp(row.created_at)?,
        published_at: row.published_at.map(from_timestamp).transpose()?,
        yanked_at: row.yanked_at.map(from_timestamp).transpose()?,
    })
}

fn artifact_row(artifact: &Artifact) -> artifacts::Model {
    artifacts::Model {
        id: artifact.id.to_string(),
        release_id: artifact.release_id.to_string(),
        filename: artifact.filename.as_str().to_owned(),
        platform: artifact.platform.as_str().to_owned(),
        arch: artifact.arch.as_str().to_owned(),
        size: i64::try_from(artifact.size).unwrap_or(i64::MAX),
        sha256: artifact.sha256.clone(),
        signature: artifact.signature.clone(),
        signature_kid: artifact.signature_kid.clone(),
        updater_signature: artifact.updater_signature.clone(),
        storage_key: artifact.storage_key.clone(),
        downloads: i64::try_from(artifact.downloads).unwrap_or(i64::MAX),
        created_at: timestamp(artifact.created_at),
    }
}

fn artifact_from_row(row: artifacts::Model) -> Result<Artifact, RepositoryError> {
    Ok(Artifact {
        id: row.id.parse().map_err(|error| corrupt("artifact id", error))?,
        release_id: row.release_id.parse().map_err(|error| corrupt("artifact release id", error))?,
        filename: FileName::parse(&row.filename).map_err(|error| corrupt("artifact file name", error))?,
        platform: Platform::parse(&row.platform).map_err(|error| corrupt("artifact platform", error))?,
        arch: Arch::parse(&row.arch).map_err(|error| corrupt("artifact arch", error))?,
        size: u64::try_from(row.size).map_err(|error| corrupt("artifact size", error))?,
        sha256: row.sha256,
        signature: row.signature,
        signature_kid: row.signature_kid,
        updater_signature: row.updater_signature,
        storage_key: row.storage_key,
        downloads: u64::try_from(row.downloads).map_err(|error| corrupt("artifact downloads", error))?,
        created_at: from_timestamp(row.created_at)?,
    })
}

#[async_trait]
impl ReleaseRepository for SeaOrmStore {
    async fn create_release(&self, release: &Release, audit: &AuditEvent) -> Result<(), CreateReleaseError> {
        let txn = self.db.writer.begin().await.map_err(repository_error)?;
        let inserted =
            releases::Entity::insert(release_row(release).into_active_model()).exec_without_returning(&txn).await;
        if let Err(error) = inserted {
            let _ = txn.rollback().await;
            return Err(match unique_violation(&error) {
                Some(_) => CreateReleaseError::VersionTaken {
                    product: release.product.clone(),
                    version: release.version.clone(),
                },
                None => repository_error(error).into(),
            });
        }
        audit_events::Entity::insert(audit_row(audit)).exec_without_returning(&txn).await.map_err(repository_error)?;
        self.db.commit(txn).await?;
        Ok(())
    }

    async fn find_release(&self, id: Uuid) -> Result<Option<Release>, RepositoryError> {
        let row = releases::Entity::find_by_id(id.to_string()).one(&self.db.reader).await.map_err(repository_error)?;
        row.map(release_from_row).transpose()
    }

    async fn list_releases(
        &self,
        filter: &ReleaseFilter,
        page: &PageRequest,
    ) -> Result<Page<Release>, RepositoryError> {
        use releases::Column;
        let mut query = releases::Entity::find();
        if let Some(product) = &filter.product {
            query = query.filter(Column::Product.eq(product.as_str()));
        }
        if let Some(channel) = &filter.channel {
            query = query.filter(Column::Channel.eq(channel.as_str()));
        }
        if let Some(status) = filter.status {
            query = query.filter(Column::Status.eq(status.as_str()));
        }
        newest_first(query, Column::Id, page, &self.db.reader, release_from_row, |release| release.id.to_string()).await
    }

    async fn published_releases(&self, product: &str) -> Result<Vec<Release>, RepositoryError> {
        use releases::Column;
        let rows = releases::Entity::find()
            .filter(Column::Product.eq(product))
            .filter(Column::Status.eq(ReleaseStatus::Published.as_str()))
            .all(&self.db.reader)
            .await
            .map_err(repository_error)?;
        rows.into_iter().map(release_from_row).collect()
    }

    async fn set_release_status(
        &self,
        id: Uuid,
        expected: ReleaseStatus,
        to: ReleaseStatus,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<bool, RepositoryError> {
        use releases::Column;
        let mut update = releases::Entity::update_many().col_expr(Column::Status, Expr::value(to.as_str()));
        match to {
            ReleaseStatus::Published => update = update.col_expr(Column::PublishedAt, Expr::value(timestamp(at))),
            ReleaseStatus::Yanked => update = update.col_expr(Column::YankedAt, Expr::value(timestamp(at))),
            ReleaseStatus::Draft => {}
        }
        let update = update.filter(Column::Id.eq(id.to_string())).filter(Column::Status.eq(expected.as_str()));
        crate::writes::update_with_audit(&self.db, update, audit).await
    }

    async fn put_artifact(
        &self,
        artifact: &Artifact,
        audit: &AuditEvent,
    ) -> Result<Option<Artifact>, AddArtifactError> {
        use artifacts::Column;
        let txn = self.db.writer.begin().await.map_err(repository_error)?;
        // Holds the release as a draft for this transaction (see the module doc).
        let held = releases::Entity::update_many()
            .col_expr(releases::Column::Status, Expr::col(releases::Column::Status))
            .filter(releases::Column::Id.eq(artifact.release_id.to_string()))
            .filter(releases::Column::Status.eq(ReleaseStatus::Draft.as_str()))
            .exec(&txn)
            .await
            .map_err(repository_error)?;
        if held.rows_affected == 0 {
            let exists = releases::Entity::find_by_id(artifact.release_id.to_string())
                .one(&txn)
                .await
                .map_err(repository_error)?
                .is_some();
            let _ = txn.rollback().await;
            return Err(if exists {
                AddArtifactError::NotDraft
            } else {
                AddArtifactError::NoRelease(artifact.release_id)
            });
        }
        let replaced = artifacts::Entity::find()
            .filter(Column::ReleaseId.eq(artifact.release_id.to_string()))
            .filter(Column::Filename.eq(artifact.filename.as_str()))
            .one(&txn)
            .await
            .map_err(repository_error)?;
        if let Some(replaced) = &replaced {
            artifacts::Entity::delete_by_id(replaced.id.clone()).exec(&txn).await.map_err(repository_error)?;
        }
        artifacts::Entity::insert(artifact_row(artifact).into_active_model())
            .exec_without_returning(&txn)
            .await
            .map_err(repository_error)?;
        audit_events::Entity::insert(audit_row(audit)).exec_without_returning(&txn).await.map_err(repository_error)?;
        self.db.commit(txn).await?;
        Ok(replaced.map(artifact_from_row).transpose()?)
    }

    async fn artifacts_of(&self, release_id: Uuid) -> Result<Vec<Artifact>, RepositoryError> {
        use artifacts::Column;
        let rows = artifacts::Entity::find()
            .filter(Column::ReleaseId.eq(release_id.to_string()))
            .order_by_asc(Column::Filename)
            .all(&self.db.reader)
            .await
            .map_err(repository_error)?;
        rows.into_iter().map(artifact_from_row).collect()
    }

    async fn find_artifact(&self, id: Uuid) -> Result<Option<Artifact>, RepositoryError> {
        let row = artifacts::Entity::find_by_id(id.to_string()).one(&self.db.reader).await.map_err(repository_error)?;
        row.map(artifact_from_row).transpose()
    }

    async fn count_download(&self, id: Uuid, audit: &AuditEvent) -> Result<bool, RepositoryError> {
        use artifacts::Column;
        let update = artifacts::Entity::update_many()
            .col_expr(Column::Downloads, Expr::col(Column::Downloads).add(1))
            .filter(Column::Id.eq(id.to_string()));
        crate::writes::update_with_audit(&self.db, update, audit).await
    }
}
