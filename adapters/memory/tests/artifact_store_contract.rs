//! The artifact store contract on the in-memory fake (which holds each object
//! whole, so the chunked-streaming case is the real stores' alone).

use tessera_memory::InMemoryArtifactStore;

#[tokio::test]
async fn stores_reads_ranges_and_deletes() {
    let scratch = tempfile::tempdir().unwrap();
    let store = InMemoryArtifactStore::new();
    tessera_repository_contract::artifact_cases::stores_reads_ranges_and_deletes(&store, scratch.path()).await;
}

#[tokio::test]
async fn a_failed_put_leaves_nothing_visible() {
    let scratch = tempfile::tempdir().unwrap();
    let store = InMemoryArtifactStore::new();
    tessera_repository_contract::artifact_cases::a_failed_put_leaves_nothing_visible(&store, scratch.path()).await;
}
