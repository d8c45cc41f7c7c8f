//! The behaviour every [`ArtifactStore`] must show (a directory, S3), each
//! case given a fresh store and a scratch directory for staged files.

use std::path::Path;

use futures::StreamExt;
use tessera_domain::release::{ArtifactStore, ByteRange, StorageError};

async fn read_all(store: &dyn ArtifactStore, key: &str, range: Option<ByteRange>) -> Result<Vec<u8>, StorageError> {
    let mut stream = store.get(key, range).await?;
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        bytes.extend_from_slice(&chunk?);
    }
    Ok(bytes)
}

pub async fn stores_reads_ranges_and_deletes(store: &dyn ArtifactStore, scratch: &Path) {
    let staged = scratch.join("staged.bin");
    let bytes: Vec<u8> = (0..100_000u32).map(|n| (n % 251) as u8).collect();
    std::fs::write(&staged, &bytes).unwrap();
    let key = "datatools/1.0.0/0190a0b0-0000-7000-8000-000000000001/DataTools.dmg";
    store.put_file(key, &staged).await.unwrap();
    assert_eq!(store.size(key).await.unwrap(), 100_000);
    assert_eq!(read_all(store, key, None).await.unwrap(), bytes);
    let middle = ByteRange { first: 1_000, last: 65_999 };
    assert_eq!(read_all(store, key, Some(middle)).await.unwrap(), bytes[1_000..66_000]);
    let last = ByteRange { first: 99_999, last: 99_999 };
    assert_eq!(read_all(store, key, Some(last)).await.unwrap(), [bytes[99_999]]);
    let past = ByteRange { first: 99_000, last: 100_000 };
    assert!(matches!(store.get(key, Some(past)).await.err(), Some(StorageError::RangeNotSatisfiable)));
    assert!(matches!(store.get("datatools/none", None).await.err(), Some(StorageError::NotFound(_))));
    assert!(matches!(store.size("datatools/none").await, Err(StorageError::NotFound(_))));
    // A second put under a new key leaves the first untouched.
    std::fs::write(&staged, b"other").unwrap();
    store.put_file("datatools/1.0.0/other.zip", &staged).await.unwrap();
    assert_eq!(read_all(store, key, None).await.unwrap(), bytes);
    store.delete(key).await.unwrap();
    assert!(matches!(store.size(key).await, Err(StorageError::NotFound(_))));
    store.delete(key).await.unwrap();
    assert_eq!(read_all(store, "datatools/1.0.0/other.zip", None).await.unwrap(), b"other");
}

/// 24 MiB through the store: every chunk read is small, whatever the file.
pub async fn streams_a_large_file_in_chunks(store: &dyn ArtifactStore, scratch: &Path) {
    let staged = scratch.join("large.bin");
    let block: Vec<u8> = (0..1024 * 1024u32).map(|n| (n % 253) as u8).collect();
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&staged).unwrap();
        for _ in 0..24 {
            file.write_all(&block).unwrap();
        }
    }
    store.put_file("big/installer.pkg", &staged).await.unwrap();
    let mut stream = store.get("big/installer.pkg", None).await.unwrap();
    let (mut total, mut largest, mut checksum) = (0usize, 0usize, 0u64);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        total += chunk.len();
        largest = largest.max(chunk.len());
        checksum = chunk.iter().fold(checksum, |sum, byte| sum.wrapping_mul(31).wrapping_add(u64::from(*byte)));
    }
    let expected =
        (0..24).flat_map(|_| block.iter()).fold(0u64, |sum, byte| sum.wrapping_mul(31).wrapping_add(u64::from(*byte)));
    assert_eq!((total, checksum), (24 * 1024 * 1024, expected));
    assert!(largest <= 8 * 1024 * 1024, "chunks of at most 8 MiB, got {largest}");
}

/// A put whose staged file cannot be read stores nothing under the key.
pub async fn a_failed_put_leaves_nothing_visible(store: &dyn ArtifactStore, scratch: &Path) {
    let missing = scratch.join("never-written.bin");
    assert!(store.put_file("datatools/broken.zip", &missing).await.is_err());
    assert!(matches!(store.size("datatools/broken.zip").await, Err(StorageError::NotFound(_))));
}
