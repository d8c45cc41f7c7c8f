//! The artifact store contract on a real S3 API: moto's server (PyPI's
//! `moto[server]`), started on a free loopback port for this test process —
//! not a mock of the client. `#[ignore]`d for a plain `cargo test`; CI
//! installs moto and runs them.

use std::net::TcpListener;

use tessera_domain::release::{ArtifactStore, StorageError};
use tessera_repository_contract::moto::MotoServer;
use tessera_s3_storage::{S3ArtifactStore, S3Config};

/// A store on `bucket` at `endpoint`, with moto's test credentials.
fn store_at(endpoint: &str, bucket: &str, prefix: Option<&str>) -> S3ArtifactStore {
    let config = S3Config {
        bucket: bucket.into(),
        region: "us-east-1".into(),
        endpoint: Some(endpoint.to_owned()),
        prefix: prefix.map(str::to_owned),
        access_key_id: "testing".into(),
        secret_access_key: None,
        secret_access_key_file: None,
    };
    S3ArtifactStore::new(&config, "testing").unwrap()
}

/// A new bucket on `moto`, objects under `releases/`.
fn store(moto: &MotoServer, bucket: &str) -> S3ArtifactStore {
    moto.create_bucket(bucket);
    store_at(&moto.endpoint, bucket, Some("releases"))
}

#[tokio::test]
#[ignore = "needs moto (pip install 'moto[server]'); CI runs it"]
async fn on_s3_stores_reads_ranges_and_deletes() {
    let moto = MotoServer::start();
    let scratch = tempfile::tempdir().unwrap();
    let store = store(&moto, "ranges");
    tessera_repository_contract::artifact_cases::stores_reads_ranges_and_deletes(&store, scratch.path()).await;
}

#[tokio::test]
#[ignore = "needs moto (pip install 'moto[server]'); CI runs it"]
async fn on_s3_streams_a_large_file_in_chunks() {
    let moto = MotoServer::start();
    let scratch = tempfile::tempdir().unwrap();
    let store = store(&moto, "large");
    tessera_repository_contract::artifact_cases::streams_a_large_file_in_chunks(&store, scratch.path()).await;
}

#[tokio::test]
#[ignore = "needs moto (pip install 'moto[server]'); CI runs it"]
async fn on_s3_a_failed_put_leaves_nothing_visible() {
    let moto = MotoServer::start();
    let scratch = tempfile::tempdir().unwrap();
    let store = store(&moto, "failed");
    tessera_repository_contract::artifact_cases::a_failed_put_leaves_nothing_visible(&store, scratch.path()).await;
}

#[tokio::test]
#[ignore = "needs moto (pip install 'moto[server]'); CI runs it"]
async fn an_unreachable_bucket_is_unavailable_not_missing() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let store = store_at(&format!("http://127.0.0.1:{port}"), "nowhere", None);
    let scratch = tempfile::tempdir().unwrap();
    let staged = scratch.path().join("file.bin");
    std::fs::write(&staged, b"bytes").unwrap();
    assert!(matches!(store.put_file("a/b.zip", &staged).await, Err(StorageError::Unavailable(_))));
    assert!(matches!(store.size("a/b.zip").await, Err(StorageError::Unavailable(_))));
}
