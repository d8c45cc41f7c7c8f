//! An uploaded artifact on its way to storage: streamed to a staged file
//! while it is measured and hashed, then signed in two more passes over that
//! file — a file of any size, never held in memory. The staged file is
//! removed when the [`Staged`] value drops, stored or not.

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ring::digest::{Context, SHA256};
use tessera_domain::release::StoredFile;
use tessera_ring::Keyring;
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::state::UploadLimits;

/// How much of an upload is held at once.
const CHUNK: usize = 64 * 1024;

#[derive(Debug, Error)]
pub enum StageError {
    #[error("the file is larger than the {0} bytes an upload may send (releases.max_upload_mb)")]
    TooLarge(u64),
    /// The client stopped sending (hung up, timed out) before the body ended.
    #[error("the upload was cut off before its end: {0}")]
    CutOff(#[source] std::io::Error),
    /// The staging directory could not take the file (full disk, permissions).
    #[error("the upload could not be staged")]
    Disk(#[source] std::io::Error),
}

/// A complete upload in the staging directory, with its size and SHA-256.
pub struct Staged {
    pub path: tempfile::TempPath,
    pub size: u64,
    pub sha256: String,
}

/// Streams `body` into a new file under `limits.staging_dir`, refusing it
/// once it passes `limits.max_bytes`.
pub async fn stage(body: poem::Body, limits: &UploadLimits) -> Result<Staged, StageError> {
    let named =
        tempfile::Builder::new().prefix("upload-").tempfile_in(&limits.staging_dir).map_err(StageError::Disk)?;
    let (file, path) = named.into_parts();
    let mut file = tokio::fs::File::from_std(file);
    let mut body = body.into_async_read();
    let mut buffer = vec![0u8; CHUNK];
    let mut digest = Context::new(&SHA256);
    let mut size = 0u64;
    loop {
        let count = body.read(&mut buffer).await.map_err(StageError::CutOff)?;
        if count == 0 {
            break;
        }
        size += count as u64;
        if size > limits.max_bytes {
            return Err(StageError::TooLarge(limits.max_bytes));
        }
        digest.update(&buffer[..count]);
        file.write_all(&buffer[..count]).await.map_err(StageError::Disk)?;
    }
    file.flush().await.map_err(StageError::Disk)?;
    let sha256 = digest.finish().as_ref().iter().map(|byte| format!("{byte:02x}")).collect();
    Ok(Staged { path, size, sha256 })
}

impl Staged {
    /// The file's measurements and its Ed25519 signature by the active key
    /// (base64, as Sparkle's `sparkle:edSignature` carries it), signed off
    /// the async threads: two reads of a large file take a while.
    pub async fn sign(&self, keyring: &Arc<Keyring>) -> Result<StoredFile, StageError> {
        let kid = keyring.active().kid.clone();
        let keyring = keyring.clone();
        let path = self.path.to_path_buf();
        let signature = tokio::task::spawn_blocking(move || keyring.active().sign_file(&path))
            .await
            .map_err(|error| StageError::Disk(std::io::Error::other(error)))?
            .map_err(StageError::Disk)?;
        Ok(StoredFile {
            size: self.size,
            sha256: self.sha256.clone(),
            signature: STANDARD.encode(signature),
            signature_kid: kid,
        })
    }
}
