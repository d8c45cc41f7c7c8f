//! `FileArtifactStore`: release files in a directory (`[releases] path`,
//! default `./tessera-artifacts`), the embedded default of one server.
//!
//! A put copies the staged file into `<root>/.incoming/`, fsyncs it and
//! renames it into place, then fsyncs the directory: an object is visible
//! whole or not at all, also after a crash mid-copy (`.incoming` holds only
//! leftovers, never read). Reads stream the file a chunk at a time, so a
//! 2 GiB download never sits in memory.

use std::io::SeekFrom;
use std::path::{Component, Path, PathBuf};

use async_trait::async_trait;
use futures_util::StreamExt;
use tessera_domain::release::{ArtifactStore, ByteRange, ByteStream, StorageError};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// How much of a file a read holds at once.
const CHUNK: usize = 64 * 1024;

pub struct FileArtifactStore {
    root: PathBuf,
}

impl FileArtifactStore {
    /// Stores under `root`, created if missing.
    pub fn new(root: impl Into<PathBuf>) -> std::io::Result<Self> {
        let root = root.into();
        std::fs::create_dir_all(root.join(".incoming"))?;
        Ok(Self { root })
    }

    /// The store at `root`, creating nothing: what `check-config`, which
    /// changes nothing on disk, builds (it never reads or writes through it).
    pub fn unopened(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The object's path: `key`'s segments under the root. A key with `..`,
    /// an absolute path or an empty segment names no object.
    fn path_of(&self, key: &str) -> Result<PathBuf, StorageError> {
        let relative = Path::new(key);
        let plain = !key.is_empty()
            && !key.starts_with('.')
            && relative.components().all(|component| matches!(component, Component::Normal(_)));
        if !plain {
            return Err(StorageError::NotFound(key.to_owned()));
        }
        Ok(self.root.join(relative))
    }
}

/// An I/O failure other than a missing object (each read names its key itself).
fn failed(error: std::io::Error) -> StorageError {
    match error.kind() {
        // A full disk or a read-only mount: try again later.
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::ReadOnlyFilesystem => {
            StorageError::Unavailable(error.into())
        }
        _ => StorageError::Unexpected(error.into()),
    }
}

#[async_trait]
impl ArtifactStore for FileArtifactStore {
    async fn put_file(&self, key: &str, staged: &Path) -> Result<(), StorageError> {
        let target = self.path_of(key)?;
        let incoming = self.root.join(".incoming").join(uuid::Uuid::new_v4().to_string());
        let staged = staged.to_path_buf();
        tokio::task::spawn_blocking(move || {
            let copy = || -> std::io::Result<()> {
                std::fs::copy(&staged, &incoming)?;
                std::fs::File::open(&incoming)?.sync_all()?;
                let parent = target.parent().expect("an object path has a parent");
                std::fs::create_dir_all(parent)?;
                std::fs::rename(&incoming, &target)?;
                std::fs::File::open(parent)?.sync_all()
            };
            copy().inspect_err(|_| {
                let _ = std::fs::remove_file(&incoming);
            })
        })
        .await
        .map_err(|error| StorageError::Unexpected(error.into()))?
        .map_err(failed)
    }

    async fn get(&self, key: &str, range: Option<ByteRange>) -> Result<ByteStream, StorageError> {
        let path = self.path_of(key)?;
        let mut file = tokio::fs::File::open(&path).await.map_err(|error| match error.kind() {
            std::io::ErrorKind::NotFound => StorageError::NotFound(key.to_owned()),
            _ => failed(error),
        })?;
        let size = file.metadata().await.map_err(failed)?.len();
        let (first, length) = match range {
            None => (0, size),
            Some(range) if range.first <= range.last && range.last < size => (range.first, range.byte_count()),
            Some(_) => return Err(StorageError::RangeNotSatisfiable),
        };
        file.seek(SeekFrom::Start(first)).await.map_err(failed)?;
        let chunks = tokio_util::io::ReaderStream::with_capacity(file.take(length), CHUNK);
        Ok(Box::pin(chunks.map(|chunk| chunk.map_err(failed))))
    }

    async fn size(&self, key: &str) -> Result<u64, StorageError> {
        let path = self.path_of(key)?;
        match tokio::fs::metadata(&path).await {
            Ok(metadata) if metadata.is_file() => Ok(metadata.len()),
            Ok(_) => Err(StorageError::NotFound(key.to_owned())),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Err(StorageError::NotFound(key.to_owned())),
            Err(error) => Err(failed(error)),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let path = self.path_of(key)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(failed(error)),
        }
    }
}
