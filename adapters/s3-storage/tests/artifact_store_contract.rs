//! The artifact store contract on a real S3 API: moto's server (PyPI's
//! `moto[server]`), started on a free loopback port for this test process —
//! not a mock of the client. `#[ignore]`d for a plain `cargo test`; CI
//! installs moto and runs them.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tessera_domain::release::{ArtifactStore, StorageError};
use tessera_s3_storage::{S3ArtifactStore, S3Config};

/// A moto S3 server, stopped when dropped.
struct Moto {
    child: Child,
    endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One plain HTTP/1.1 request to the local server; its status code.
fn http(endpoint: &str, method: &str, path: &str) -> u16 {
    let address = endpoint.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).unwrap();
    let request =
        format!("{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.split_whitespace().nth(1).and_then(|code| code.parse().ok()).unwrap_or(0)
}

fn moto() -> Moto {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("moto is not installed (pip install 'moto[server]')");
    let endpoint = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "moto_server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    Moto { child, endpoint }
}

fn store(moto: &Moto, bucket: &str) -> S3ArtifactStore {
    assert_eq!(http(&moto.endpoint, "PUT", &format!("/{bucket}")), 200, "bucket created");
    let config = S3Config {
        bucket: bucket.into(),
        region: "us-east-1".into(),
        endpoint: Some(moto.endpoint.clone()),
        prefix: Some("releases".into()),
        access_key_id: "testing".into(),
        secret_access_key: None,
        secret_access_key_file: None,
    };
    S3ArtifactStore::new(&config, "testing").unwrap()
}

#[tokio::test]
#[ignore = "needs moto (pip install 'moto[server]'); CI runs it"]
async fn on_s3_stores_reads_ranges_and_deletes() {
    let moto = moto();
    let scratch = tempfile::tempdir().unwrap();
    let store = store(&moto, "ranges");
    tessera_repository_contract::artifact_cases::stores_reads_ranges_and_deletes(&store, scratch.path()).await;
}

#[tokio::test]
#[ignore = "needs moto (pip install 'moto[server]'); CI runs it"]
async fn on_s3_streams_a_large_file_in_chunks() {
    let moto = moto();
    let scratch = tempfile::tempdir().unwrap();
    let store = store(&moto, "large");
    tessera_repository_contract::artifact_cases::streams_a_large_file_in_chunks(&store, scratch.path()).await;
}

#[tokio::test]
#[ignore = "needs moto (pip install 'moto[server]'); CI runs it"]
async fn on_s3_a_failed_put_leaves_nothing_visible() {
    let moto = moto();
    let scratch = tempfile::tempdir().unwrap();
    let store = store(&moto, "failed");
    tessera_repository_contract::artifact_cases::a_failed_put_leaves_nothing_visible(&store, scratch.path()).await;
}

#[tokio::test]
#[ignore = "needs moto (pip install 'moto[server]'); CI runs it"]
async fn an_unreachable_bucket_is_unavailable_not_missing() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config = S3Config {
        bucket: "nowhere".into(),
        region: "us-east-1".into(),
        endpoint: Some(format!("http://127.0.0.1:{port}")),
        prefix: None,
        access_key_id: "testing".into(),
        secret_access_key: None,
        secret_access_key_file: None,
    };
    let store = S3ArtifactStore::new(&config, "testing").unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let staged = scratch.path().join("file.bin");
    std::fs::write(&staged, b"bytes").unwrap();
    assert!(matches!(store.put_file("a/b.zip", &staged).await, Err(StorageError::Unavailable(_))));
    assert!(matches!(store.size("a/b.zip").await, Err(StorageError::Unavailable(_))));
}
