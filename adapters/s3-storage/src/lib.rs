//! `S3ArtifactStore`: release files in S3-compatible object storage (AWS S3,
//! MinIO, Cloudflare R2, Backblaze B2, …), shared by several `tessera-server`
//! instances (`[releases] storage = "s3"`), on Apache Arrow's `object_store`.
//!
//! A put is a multipart upload read from the staged file a part at a time and
//! completed only when every part is in: S3 makes the object visible whole at
//! completion, and a failed put is aborted, so nothing half-written is ever
//! readable. Reads stream the object's body as S3 sends it.

use std::path::Path;

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectStore, WriteMultipart};
use serde::Deserialize;
use tessera_domain::release::{ArtifactStore, ByteRange, ByteStream, StorageError};
use tessera_domain::secret::Secret;
use tokio::io::AsyncReadExt;

/// The size of each uploaded part (S3's minimum is 5 MiB, but for the last).
const PART: usize = 8 * 1024 * 1024;

/// `[releases.s3]`: where the bucket is and how to sign requests to it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    pub bucket: String,
    /// E.g. `us-east-1`; MinIO and moto take any.
    #[serde(default = "S3Config::default_region")]
    pub region: String,
    /// A provider other than AWS, or a local server: `http://127.0.0.1:9000`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Objects go under this prefix (`releases/`), so a bucket can be shared.
    #[serde(default)]
    pub prefix: Option<String>,
    pub access_key_id: String,
    #[serde(default)]
    pub secret_access_key: Option<Secret>,
    #[serde(default)]
    pub secret_access_key_file: Option<std::path::PathBuf>,
}

impl S3Config {
    fn default_region() -> String {
        "us-east-1".into()
    }
}

pub struct S3ArtifactStore {
    store: AmazonS3,
    prefix: String,
}

impl std::fmt::Debug for S3ArtifactStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3ArtifactStore").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

fn unavailable(error: object_store::Error) -> StorageError {
    StorageError::Unavailable(Box::new(error))
}

/// A failure of a request about `key`: a missing object, or the store out of reach.
fn failed(key: &str, error: object_store::Error) -> StorageError {
    match error {
        object_store::Error::NotFound { .. } => StorageError::NotFound(key.to_owned()),
        // Network failures, timeouts and 5xx after the client's retries: try again later.
        object_store::Error::Generic { .. } => unavailable(error),
        other => StorageError::Unexpected(Box::new(other)),
    }
}

impl S3ArtifactStore {
    /// A store on `config`'s bucket with the secret key given (from
    /// `secret_access_key` or its file); makes no request.
    pub fn new(config: &S3Config, secret_access_key: &str) -> Result<Self, StorageError> {
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&config.bucket)
            .with_region(&config.region)
            .with_access_key_id(&config.access_key_id)
            .with_secret_access_key(secret_access_key);
        if let Some(endpoint) = &config.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        let store = builder.build().map_err(|error| StorageError::Unexpected(Box::new(error)))?;
        let prefix = config.prefix.clone().unwrap_or_default().trim_matches('/').to_owned();
        Ok(Self { store, prefix })
    }

    fn path_of(&self, key: &str) -> Result<ObjectPath, StorageError> {
        let plain = !key.is_empty()
            && !key.starts_with('/')
            && key.split('/').all(|part| !part.is_empty() && part != "." && part != "..");
        if !plain {
            return Err(StorageError::NotFound(key.to_owned()));
        }
        let full = if self.prefix.is_empty() { key.to_owned() } else { format!("{}/{key}", self.prefix) };
        ObjectPath::parse(full).map_err(|_| StorageError::NotFound(key.to_owned()))
    }

    async fn upload(&self, path: &ObjectPath, staged: &Path) -> Result<(), StorageError> {
        let mut file = tokio::fs::File::open(staged).await.map_err(|error| StorageError::Unexpected(error.into()))?;
        let upload = self.store.put_multipart(path).await.map_err(unavailable)?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART);
        let mut buffer = vec![0u8; 1024 * 1024];
        let written: Result<(), StorageError> = async {
            loop {
                let count = file.read(&mut buffer).await.map_err(|error| StorageError::Unexpected(error.into()))?;
                if count == 0 {
                    return Ok(());
                }
                // At most two parts in flight: memory stays flat whatever the file.
                writer.wait_for_capacity(2).await.map_err(unavailable)?;
                writer.write(&buffer[..count]);
            }
        }
        .await;
        match written {
            Ok(()) => writer.finish().await.map(|_| ()).map_err(unavailable),
            Err(error) => {
                let _ = writer.abort().await;
                Err(error)
            }
        }
    }
}

#[async_trait]
impl ArtifactStore for S3ArtifactStore {
    async fn put_file(&self, key: &str, staged: &Path) -> Result<(), StorageError> {
        let path = self.path_of(key)?;
        self.upload(&path, staged).await
    }

    async fn get(&self, key: &str, range: Option<ByteRange>) -> Result<ByteStream, StorageError> {
        let path = self.path_of(key)?;
        let range = match range {
            None => None,
            Some(range) => {
                let size = self.size(key).await?;
                if range.first > range.last || range.last >= size {
                    return Err(StorageError::RangeNotSatisfiable);
                }
                Some(GetRange::Bounded(range.first..range.last + 1))
            }
        };
        let options = GetOptions { range, ..Default::default() };
        let result = self.store.get_opts(&path, options).await.map_err(|error| failed(key, error))?;
        let owned_key = key.to_owned();
        Ok(Box::pin(result.into_stream().map_err(move |error| failed(&owned_key, error)).boxed()))
    }

    async fn size(&self, key: &str) -> Result<u64, StorageError> {
        let path = self.path_of(key)?;
        let meta = self.store.head(&path).await.map_err(|error| failed(key, error))?;
        Ok(meta.size)
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let path = self.path_of(key)?;
        match self.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(failed(key, error)),
        }
    }
}
