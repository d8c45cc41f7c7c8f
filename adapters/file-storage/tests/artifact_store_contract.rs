//! The artifact store contract on a directory.

use tessera_domain::release::ArtifactStore;
use tessera_file_storage::FileArtifactStore;

async fn store() -> (FileArtifactStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (FileArtifactStore::new(dir.path().join("artifacts")).unwrap(), dir)
}

#[tokio::test]
async fn stores_reads_ranges_and_deletes() {
    let (store, dir) = store().await;
    tessera_repository_contract::artifact_cases::stores_reads_ranges_and_deletes(&store, dir.path()).await;
}

#[tokio::test]
async fn streams_a_large_file_in_chunks() {
    let (store, dir) = store().await;
    tessera_repository_contract::artifact_cases::streams_a_large_file_in_chunks(&store, dir.path()).await;
}

#[tokio::test]
async fn a_failed_put_leaves_nothing_visible() {
    let (store, dir) = store().await;
    tessera_repository_contract::artifact_cases::a_failed_put_leaves_nothing_visible(&store, dir.path()).await;
    let incoming = std::fs::read_dir(dir.path().join("artifacts/.incoming")).unwrap().count();
    assert_eq!(incoming, 0, "no leftover in .incoming");
}

#[tokio::test]
async fn keys_that_leave_the_root_name_nothing() {
    let (store, dir) = store().await;
    std::fs::write(dir.path().join("secret"), b"outside").unwrap();
    for key in ["../secret", "/etc/passwd", ".incoming/x", "a//b", ""] {
        assert!(
            matches!(store.size(key).await, Err(tessera_domain::release::StorageError::NotFound(_))),
            "{key:?} is refused"
        );
    }
}
