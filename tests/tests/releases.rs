//! Releases on the real binary: a 200 MB installer uploaded and downloaded
//! through the server with flat memory (its peak RSS is read from /proc), the
//! bytes and their SHA-256 intact; the Sparkle appcast parsed by Python's
//! feedparser and its `sparkle:edSignature` verified over the downloaded
//! bytes by Python's `cryptography` with the key from the JWKS.

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;

use tessera_blackbox::{assert_exit, cli, mint_demo_license, RunningServer};

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

#[test]
#[ignore = "needs Python's feedparser and cryptography (pip install feedparser cryptography); CI runs it"]
fn a_200_mb_release_streams_through_with_flat_memory_and_its_appcast_verifies_in_python() {
    let dir = tempfile::tempdir().unwrap();
    let server = RunningServer::start(dir.path());
    let installer = dir.path().join("DemoApp-2.0.0.zip");
    let sha256 = write_installer(&installer);
    let http = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(300))
        .build()
        .unwrap();
    let before = peak_rss_mib(server.pid());

    // The operator's CLI: create, upload (streamed from disk), publish.
    let json = |output: std::process::Output| -> serde_json::Value {
        assert_exit(&output, 0);
        serde_json::from_slice(&output.stdout).expect("--json prints JSON")
    };
    let created = json(cli(
        dir.path(),
        &server.admin_url,
        &["--json", "release", "create", "--product", "demo", "--version", "2.0.0", "--notes", "Big & new"],
    ));
    let release = created["id"].as_str().unwrap().to_owned();
    let installer_arg = installer.to_str().unwrap();
    let upload = ["--json", "release", "upload", &release, installer_arg, "--platform", "macos", "--arch", "universal"];
    let artifact = json(cli(dir.path(), &server.admin_url, &upload));
    assert_eq!((artifact["size"].as_u64(), artifact["sha256"].as_str()), (Some(SIZE), Some(sha256.as_str())));
    assert_eq!(artifact["filename"], "DemoApp-2.0.0.zip");
    let published = json(cli(dir.path(), &server.admin_url, &["--json", "release", "publish", &release]));
    assert_eq!(published["status"], "published");
    let listed = json(cli(dir.path(), &server.admin_url, &["--json", "release", "list", "--status", "published"]));
    assert_eq!(listed["items"][0]["artifacts"][0]["id"], artifact["id"]);
    let after_upload = peak_rss_mib(server.pid());

    let key = mint_demo_license(&server, dir.path());
    let id = artifact["id"].as_str().unwrap();
    let redirect = http.get(format!("{}/v1/artifacts/{id}", server.public_url)).bearer_auth(&key).send().unwrap();
    assert_eq!(redirect.status(), 302);
    let location = redirect.headers()["location"].to_str().unwrap().to_owned();
    let mut download = http.get(&location).send().unwrap();
    assert_eq!(download.status(), 200);
    let downloaded = dir.path().join("downloaded.zip");
    let copied = download.copy_to(&mut std::fs::File::create(&downloaded).unwrap()).unwrap();
    assert_eq!(copied, SIZE);
    assert_eq!(sha256_of_file(&downloaded), sha256, "the bytes came back intact");
    let after_download = peak_rss_mib(server.pid());
    eprintln!("server peak RSS: {before} MiB at start, {after_upload} after a 200 MiB upload, {after_download} after its download");
    assert!(
        after_download < before + 64,
        "a 200 MiB file went through without the server holding it: peak RSS {before} → {after_download} MiB"
    );

    let appcast = http
        .get(format!("{}/v1/updates/sparkle/demo/appcast.xml?license_key={key}", server.public_url))
        .send()
        .unwrap();
    assert_eq!(appcast.status(), 200);
    let appcast_file = dir.path().join("appcast.xml");
    std::fs::write(&appcast_file, appcast.bytes().unwrap()).unwrap();
    let script = dir.path().join("verify_appcast.py");
    std::fs::write(&script, VERIFY_APPCAST).unwrap();
    let jwks = format!("{}/.well-known/jwks.json", server.public_url);
    let output = Command::new("python3").arg(&script).arg(&appcast_file).arg(&downloaded).arg(&jwks).output().unwrap();
    assert_exit(&output, 0);
    let item: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!((item["version"].as_str(), item["short"].as_str()), (Some("2.0.0"), Some("2.0.0")));
    assert_eq!(item["length"].as_u64(), Some(SIZE));
    assert!(item["href"].as_str().unwrap().contains(&format!("/v1/downloads/{id}/DemoApp-2.0.0.zip?token=")));
}
