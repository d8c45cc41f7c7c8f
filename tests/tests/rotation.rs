//! Key rotation on the real binaries: a token minted before the rotation still
//! verifies; new tokens and leases carry the new key.

use base64::Engine;
use serde_json::Value;
use tessera_blackbox::{assert_exit, cli, stdout_of, RunningServer};

fn keygen(dir: &std::path::Path, kid: &str) -> Value {
    let output = cli(dir, "http://127.0.0.1:9", &["--json", "keygen", "--kid", kid, "--out", &format!("{kid}.pem")]);
    assert_exit(&output, 0);
    serde_json::from_slice(&output.stdout).unwrap()
}

fn kid_of(token: &str) -> String {
    let header = token.split('.').next().unwrap();
    let header: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

fn mint(dir: &std::path::Path, server: &RunningServer, out: &str) -> Value {
    let args = ["--json", "mint", "--product", "demo", "--tier", "pro", "--name", "Ada", "--email", "ada@example.com"];
    let minted = cli(dir, &server.admin_url, &[&args[..], &["-o", out]].concat());
    assert_exit(&minted, 0);
    serde_json::from_slice(&minted.stdout).unwrap()
}

#[test]
fn tokens_minted_before_a_rotation_still_verify() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let old = keygen(dir, "2026-01");
    std::fs::write(
        dir.join("tessera.toml"),
        "[signing]\nactive_kid = \"2026-01\"\n[[signing.keys]]\nkid = \"2026-01\"\nprivate_key_file = \"2026-01.pem\"\n",
    )
    .unwrap();
    let server = RunningServer::start(dir);
    let before = mint(dir, &server, "before.lic");
    assert_eq!(kid_of(before["token"].as_str().unwrap()), "2026-01");
    assert_eq!(server.stop(), Some(0));

    // Rotate: a new active key; the old one kept as a retired public key.
    keygen(dir, "2026-06");
    std::fs::write(
        dir.join("tessera.toml"),
        format!(
            "[signing]\nactive_kid = \"2026-06\"\n[[signing.keys]]\nkid = \"2026-06\"\nprivate_key_file = \"2026-06.pem\"\n[[signing.keys]]\nkid = \"2026-01\"\npublic_key = \"{}\"\n",
            old["x"].as_str().unwrap()
        ),
    )
    .unwrap();
    std::fs::remove_file(dir.join("2026-01.pem")).unwrap();
    let server = RunningServer::start(dir);
    let jwks = format!("{}/.well-known/jwks.json", server.public_url);

    let verified = cli(dir, &server.admin_url, &["verify", "before.lic", "--jwks", &jwks]);
    assert_exit(&verified, 0);
    let after = mint(dir, &server, "after.lic");
    assert_eq!(kid_of(after["token"].as_str().unwrap()), "2026-06", "new mints use the active key");
    assert_exit(&cli(dir, &server.admin_url, &["verify", "after.lic", "--jwks", &jwks]), 0);

    // The old license activates, and its lease is signed with the new key.
    let key = before["license"]["key"].as_str().unwrap();
    let activated = reqwest::blocking::Client::new()
        .post(format!("{}/v1/activate", server.public_url))
        .json(&serde_json::json!({"license_key": key, "fingerprint": "machine-rotation-1"}))
        .send()
        .unwrap();
    assert_eq!(activated.status().as_u16(), 200);
    let activated: Value = activated.json().unwrap();
    assert_eq!(kid_of(activated["lease"].as_str().unwrap()), "2026-06");

    let keys = cli(dir, &server.admin_url, &["--json", "keys"]);
    assert_exit(&keys, 0);
    let keys: Value = serde_json::from_slice(&keys.stdout).unwrap();
    let listed: Vec<(&str, &str)> = keys["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| (key["kid"].as_str().unwrap(), key["status"].as_str().unwrap()))
        .collect();
    assert_eq!(listed, [("2026-06", "active"), ("2026-01", "retired")]);
    assert_eq!(keys["items"][1]["public_key"], old["x"]);
    let table = cli(dir, &server.admin_url, &["keys"]);
    assert!(stdout_of(&table).contains("retired"));
}
