//! The lease cache file: JSON, mode 0600, replaced atomically (write a
//! temporary file beside it, fsync, rename), so a crash never leaves half a lease.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::ClientError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedLease {
    pub license_key: String,
    pub lease: String,
    /// The server's last notice (`server.notice`), shown offline too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
}

impl CachedLease {
    /// Reads the cache; `Ok(None)` when there is none.
    pub fn load(path: &Path) -> Result<Option<Self>, ClientError> {
        read(path)
    }

    /// Replaces the cache atomically, readable by the owner only.
    pub fn save(&self, path: &Path) -> Result<(), ClientError> {
        write(path, self)
    }
}

fn cache_error(path: &Path) -> impl FnOnce(std::io::Error) -> ClientError + '_ {
    move |error| ClientError::Cache { path: path.to_owned(), error }
}

pub(crate) fn read(path: &Path) -> Result<Option<CachedLease>, ClientError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|error| ClientError::Cache {
            path: path.to_owned(),
            error: std::io::Error::new(std::io::ErrorKind::InvalidData, error),
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(cache_error(path)(error)),
    }
}

pub(crate) fn write(path: &Path, lease: &CachedLease) -> Result<(), ClientError> {
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(cache_error(path))?;
    }
    let mut temporary = PathBuf::from(path);
    temporary.as_mut_os_string().push(format!(".{}.tmp", std::process::id()));
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let result = (|| {
        let mut file = options.open(&temporary)?;
        file.write_all(&serde_json::to_vec_pretty(lease).expect("a lease serializes"))?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result.map_err(cache_error(path))
}

pub(crate) fn remove(path: &Path) -> Result<(), ClientError> {
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(cache_error(path)(error)),
        _ => Ok(()),
    }
}
