//! Releases on the real binaries: a 200 MiB installer uploaded with the CLI
//! and downloaded through a signed link with flat server memory (its peak
//! RSS is read from /proc), the bytes and their SHA-256 intact — on the
//! directory and on S3 (moto); the Sparkle appcast parsed by Python's
//! feedparser and its `sparkle:edSignature` verified over the downloaded
//! bytes by Python's `cryptography` with the key from the JWKS; an upload cut
//! off mid-body, an altered link, a yank and a revoke, each refused.

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;

use tessera_blackbox::{assert_exit, cli, mint_demo_license, RunningServer};
use tessera_repository_contract::moto::MotoServer;

const SIZE: u64 = 200 * 1024 * 1024;

/// The server's peak resident memory so far, in MiB (`VmHWM`).
fn peak_rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|line| line.starts_with("VmHWM:")).expect("VmHWM");
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() / 1024
}

/// A file of `SIZE` bytes that are not all alike, written a MiB at a time.
fn write_installer(path: &Path) -> String {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    let mut chunk = vec![0u8; 1024 * 1024];
    for round in 0..(SIZE / chunk.len() as u64) {
        for (i, byte) in chunk.iter_mut().enumerate() {
            *byte = (i as u64 ^ round.wrapping_mul(0x9e37_79b9)) as u8;
        }
        digest.update(&chunk);
        file.write_all(&chunk).unwrap();
    }
    file.flush().unwrap();
    hex(digest.finish().as_ref())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn sha256_of_file(path: &Path) -> String {
    let mut file = std::fs::File::open(path).unwrap();
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buffer = vec![0u8; 1024 * 1024];
    loop {
        let count = file.read(&mut buffer).unwrap();
        if count == 0 {
            return hex(digest.finish().as_ref());
        }
        digest.update(&buffer[..count]);
    }
}

const VERIFY_APPCAST: &str = r#"
import base64, json, sys, urllib.request
import xml.etree.ElementTree as ET
import feedparser
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

appcast, installer, jwks_url = sys.argv[1], sys.argv[2], sys.argv[3]
feed = feedparser.parse(appcast)
assert not feed.bozo, feed.bozo_exception
assert feed.version == "rss20", feed.version
assert len(feed.entries) == 1, feed.entries
enclosure = feed.entries[0].enclosures[0]
SPARKLE = "{http://www.andymatuschak.org/xml-namespaces/sparkle}"
item = ET.parse(appcast).getroot().find("channel/item")
element = item.find("enclosure")
signature = base64.b64decode(element.get(SPARKLE + "edSignature"))
keys = json.load(urllib.request.urlopen(jwks_url))["keys"]
x = keys[0]["x"]
public = Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(x + "=" * (-len(x) % 4)))
with open(installer, "rb") as f:
    public.verify(signature, f.read())
print(json.dumps({
    "href": enclosure.href, "length": int(enclosure.length),
    "version": item.find(SPARKLE + "version").text,
    "short": item.find(SPARKLE + "shortVersionString").text,
}))
"#;

/// What a round trip leaves for the checks that follow.
struct RoundTrip {
    release: String,
    artifact_id: String,
    key: String,
    link: String,
    downloaded: std::path::PathBuf,
}

fn json_of(output: std::process::Output) -> serde_json::Value {
    assert_exit(&output, 0);
    serde_json::from_slice(&output.stdout).expect("--json prints JSON")
}

fn http_client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(300))
        .build()
        .unwrap()
}

/// A 200 MiB installer through the operator's CLI (create, upload, publish)
/// and back through a buyer's signed link, with the server's peak RSS read
/// before and after: it must stay flat.
fn round_trip_200_mib(server: &RunningServer, dir: &Path) -> RoundTrip {
    let installer = dir.join("DemoApp-2.0.0.zip");
    let sha256 = write_installer(&installer);
    let http = http_client();
    let before = peak_rss_mib(server.pid());

    let created = json_of(cli(
        dir,
        &server.admin_url,
        &["--json", "release", "create", "--product", "demo", "--version", "2.0.0", "--notes", "Big & new"],
    ));
    let release = created["id"].as_str().unwrap().to_owned();
    let upload = ["--json", "release", "upload", &release, installer.to_str().unwrap(), "--platform", "macos"];
    let artifact = json_of(cli(dir, &server.admin_url, &upload));
    assert_eq!((artifact["size"].as_u64(), artifact["sha256"].as_str()), (Some(SIZE), Some(sha256.as_str())));
    assert_eq!(artifact["filename"], "DemoApp-2.0.0.zip");
    let published = json_of(cli(dir, &server.admin_url, &["--json", "release", "publish", &release]));
    assert_eq!(published["status"], "published");
    let listed = json_of(cli(dir, &server.admin_url, &["--json", "release", "list", "--status", "published"]));
    assert_eq!(listed["items"][0]["artifacts"][0]["id"], artifact["id"]);
    let after_upload = peak_rss_mib(server.pid());

    let key = mint_demo_license(server, dir);
    let artifact_id = artifact["id"].as_str().unwrap().to_owned();
    let redirect = http.get(format!("{}/v1/artifacts/{artifact_id}", server.public_url)).bearer_auth(&key).send();
    let redirect = redirect.unwrap();
    assert_eq!(redirect.status(), 302);
    let link = redirect.headers()["location"].to_str().unwrap().to_owned();
    let mut download = http.get(&link).send().unwrap();
    assert_eq!(download.status(), 200);
    let downloaded = dir.join("downloaded.zip");
    let copied = download.copy_to(&mut std::fs::File::create(&downloaded).unwrap()).unwrap();
    assert_eq!(copied, SIZE);
    assert_eq!(sha256_of_file(&downloaded), sha256, "the bytes came back intact");
    let after_download = peak_rss_mib(server.pid());
    eprintln!(
        "server peak RSS: {before} MiB at start, {after_upload} after a 200 MiB upload, {after_download} after its download"
    );
    assert!(
        after_download < before + 64,
        "a 200 MiB file went through without the server holding it: peak RSS {before} → {after_download} MiB"
    );
    RoundTrip { release, artifact_id, key, link, downloaded }
}

#[test]
#[ignore = "needs Python's feedparser and cryptography (pip install feedparser cryptography); CI runs it"]
fn a_200_mib_release_streams_through_with_flat_memory_and_its_appcast_verifies_in_python() {
    let dir = tempfile::tempdir().unwrap();
    let server = RunningServer::start(dir.path());
    let trip = round_trip_200_mib(&server, dir.path());

    let http = http_client();
    let appcast = http
        .get(format!("{}/v1/updates/sparkle/demo/appcast.xml?license_key={}", server.public_url, trip.key))
        .send()
        .unwrap();
    assert_eq!(appcast.status(), 200);
    let appcast_file = dir.path().join("appcast.xml");
    std::fs::write(&appcast_file, appcast.bytes().unwrap()).unwrap();
    let script = dir.path().join("verify_appcast.py");
    std::fs::write(&script, VERIFY_APPCAST).unwrap();
    let jwks = format!("{}/.well-known/jwks.json", server.public_url);
    let output =
        Command::new("python3").arg(&script).arg(&appcast_file).arg(&trip.downloaded).arg(&jwks).output().unwrap();
    assert_exit(&output, 0);
    let item: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!((item["version"].as_str(), item["short"].as_str()), (Some("2.0.0"), Some("2.0.0")));
    assert_eq!(item["length"].as_u64(), Some(SIZE));
    let expected = format!("/v1/downloads/{}/DemoApp-2.0.0.zip?token=", trip.artifact_id);
    assert!(item["href"].as_str().unwrap().contains(&expected));
}

/// Sends the head of an upload and a part of its body, then hangs up.
fn cut_off_upload(admin_url: &str, token: &str, release: &str) {
    let address = admin_url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    let head = format!(
        "PUT /admin/v1/releases/{release}/artifacts/cut.zip HTTP/1.1\r\nHost: {address}\r\n\
         Authorization: Bearer {token}\r\nContent-Type: application/octet-stream\r\n\
         Content-Length: 10485760\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&vec![7u8; 1024 * 1024]).unwrap();
    stream.flush().unwrap();
    drop(stream);
}

#[test]
#[ignore = "needs moto (pip install 'moto[server]'); CI runs it"]
fn on_s3_storage_a_200_mib_release_streams_through_and_every_refusal_holds() {
    let moto = MotoServer::start();
    moto.create_bucket("releases");
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging");
    let staging_text = staging.to_str().unwrap().to_owned();
    let server = RunningServer::start_with(
        dir.path(),
        &[
            ("TESSERA_RELEASES__STORAGE", "s3"),
            ("TESSERA_RELEASES__STAGING_DIR", &staging_text),
            ("TESSERA_RELEASES__S3__BUCKET", "releases"),
            ("TESSERA_RELEASES__S3__ENDPOINT", &moto.endpoint),
            ("TESSERA_RELEASES__S3__ACCESS_KEY_ID", "testing"),
            ("TESSERA_RELEASES__S3__SECRET_ACCESS_KEY", "testing"),
        ],
    );
    let trip = round_trip_200_mib(&server, dir.path());
    assert!(!dir.path().join("tessera-artifacts").exists(), "the bytes went to the bucket, not to a directory");
    let http = http_client();
    let token = std::fs::read_to_string(dir.path().join("tessera-admin-token")).unwrap().trim().to_owned();

    // A resumed download: the rest of the file from byte 100 MiB.
    let resumed = http.get(&trip.link).header("Range", "bytes=104857600-").send().unwrap();
    assert_eq!(resumed.status(), 206);
    assert_eq!(resumed.bytes().unwrap().len() as u64, SIZE - 104_857_600);

    // An altered link is refused; the genuine one still works.
    let (base, link_token) = trip.link.split_once("token=").unwrap();
    let altered = format!("{base}token={}", link_token.replacen('.', ".e", 1));
    assert_eq!(http.get(&altered).send().unwrap().status(), 403);

    // An upload cut off mid-body leaves no file, staged or stored.
    let draft = json_of(cli(
        dir.path(),
        &server.admin_url,
        &["--json", "release", "create", "--product", "demo", "--version", "2.1.0"],
    ));
    let draft = draft["id"].as_str().unwrap().to_owned();
    cut_off_upload(&server.admin_url, &token, &draft);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::fs::read_dir(&staging).unwrap().count() > 0 {
        assert!(std::time::Instant::now() < deadline, "the cut-off upload's staged file was removed");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let shown = json_of(cli(dir.path(), &server.admin_url, &["--json", "release", "show", &draft]));
    assert_eq!(shown["artifacts"].as_array().unwrap().len(), 0, "nothing recorded");

    // Yanked: out of the feed, and its links stop working.
    json_of(cli(dir.path(), &server.admin_url, &["--json", "release", "yank", &trip.release]));
    assert_eq!(http.get(&trip.link).send().unwrap().status(), 410);
    let appcast = http
        .get(format!("{}/v1/updates/sparkle/demo/appcast.xml?license_key={}", server.public_url, trip.key))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(!appcast.contains("<item>"), "a yanked release is in no feed: {appcast}");

    // Revoked: refused with its code.
    let revoke = http
        .post(format!("{}/admin/v1/licenses/{}/revoke", server.admin_url, trip.key))
        .bearer_auth(&token)
        .json(&serde_json::json!({"reason": "chargeback"}))
        .send()
        .unwrap();
    assert_eq!(revoke.status(), 200);
    let refused =
        http.get(format!("{}/v1/releases/latest?product=demo", server.public_url)).bearer_auth(&trip.key).send();
    let refused = refused.unwrap();
    assert_eq!(refused.status(), 403);
    assert_eq!(refused.json::<serde_json::Value>().unwrap()["code"], "REVOKED");
}
