//! `tessera verify` refusing bad tokens, and `tessera-server` as a program:
//! its spec without a database, its refusals in production, its listeners.

use std::path::Path;

use serde_json::{json, Value};
use tessera_blackbox::{assert_exit, cli, server_command, stderr_of, stdout_of, RunningServer};
use tessera_ring::{b64url, generate_private_key_pem, sign_compact, SigningKey};

const LICENSE_TYP: &str = "tessera-license+jwt";

fn claims(exp_offset_secs: i64) -> Value {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    json!({
        "iss": "tessera", "sub": "APP-AAAA-BBBB-CCCC", "product": "app", "tier": "pro",
        "features": ["export"], "seats": 2, "kind": "subscription", "name": "Ada", "email": "ada@example.com",
        "iat": now - 100, "exp": now + exp_offset_secs, "jti": "0193f3c2-0000-7000-8000-000000000000"
    })
}

fn write_jwks(dir: &Path, key: &SigningKey) -> String {
    let jwks = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": key.public_key_base64url(), "kid": key.kid, "alg": "EdDSA", "use": "sig"}]});
    let path = dir.join("jwks.json");
    std::fs::write(&path, jwks.to_string()).unwrap();
    path.display().to_string()
}

#[test]
fn verify_accepts_a_good_token_and_names_why_it_refuses_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let key = SigningKey::from_pem("k1", &generate_private_key_pem(None).unwrap()).unwrap();
    let stranger = SigningKey::from_pem("k2", &generate_private_key_pem(None).unwrap()).unwrap();
    let jwks = write_jwks(dir, &key);
    let payload = |offset| claims(offset).to_string().into_bytes();
    let unused = "http://127.0.0.1:9"; // no server needed

    let good = sign_compact(&key, LICENSE_TYP, &payload(3600));
    assert_exit(&cli(dir, unused, &["verify", &good, "--jwks", &jwks]), 0);

    let mut tampered = good.clone();
    let middle = tampered.find('.').unwrap() + 5;
    let replacement = if &tampered[middle..middle + 1] == "A" { "B" } else { "A" };
    tampered.replace_range(middle..middle + 1, replacement);

    let header = |value: Value| b64url(value.to_string().as_bytes());
    let body = b64url(&payload(3600));
    let alg_none = format!("{}.{body}.", header(json!({"alg": "none", "typ": LICENSE_TYP, "kid": "k1"})));
    let signature = good.rsplit('.').next().unwrap();
    let alg_none_with_signature =
        format!("{}.{body}.{signature}", header(json!({"alg": "none", "typ": LICENSE_TYP, "kid": "k1"})));

    let cases = [
        ("tampered payload", tampered, "signature"),
        ("alg none, no signature", alg_none, "invalid"),
        ("alg none, old signature", alg_none_with_signature, "alg"),
        ("wrong typ", sign_compact(&key, "JWT", &payload(3600)), "type"),
        ("unknown kid", sign_compact(&stranger, LICENSE_TYP, &payload(3600)), "k2"),
        ("expired", sign_compact(&key, LICENSE_TYP, &payload(-60)), "expired"),
        ("garbage", "not.a.token".to_owned(), "invalid"),
    ];
    for (what, token, reason) in cases {
        let output = cli(dir, unused, &["verify", &token, "--jwks", &jwks]);
        assert_exit(&output, 1);
        let stderr = stderr_of(&output);
        assert!(stderr.to_lowercase().contains(reason), "{what}: {stderr}");
        assert!(stdout_of(&output).is_empty(), "{what}: nothing printed as if valid");
    }
    let missing_jwks = cli(dir, unused, &["verify", &good, "--jwks", "/nonexistent/jwks.json"]);
    assert_exit(&missing_jwks, 2);
}

#[test]
fn keygen_writes_a_private_key_that_verify_and_the_server_accept() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let output = cli(dir, "http://127.0.0.1:9", &["--json", "keygen", "--kid", "2026-11", "--out", "signing.pem"]);
    assert_exit(&output, 0);
    let jwk: Value = serde_json::from_str(stdout_of(&output).trim()).unwrap();
    assert_eq!((jwk["kid"].as_str(), jwk["crv"].as_str()), (Some("2026-11"), Some("Ed25519")));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(dir.join("signing.pem")).unwrap().permissions().mode() & 0o777, 0o600);
    let again = cli(dir, "http://127.0.0.1:9", &["keygen", "--kid", "x", "--out", "signing.pem"]);
    assert_exit(&again, 2);

    let key_path = dir.join("signing.pem").display().to_string();
    let server = RunningServer::start_with(
        dir,
        &[("TESSERA_SIGNING__KEYS", &format!("[{{kid=\"2026-11\", private_key_file=\"{key_path}\"}}]"))],
    );
    let jwks: Value =
        reqwest::blocking::get(format!("{}/.well-known/jwks.json", server.public_url)).unwrap().json().unwrap();
    assert_eq!(jwks["keys"][0]["x"], jwk["x"]);
}

#[test]
fn openapi_prints_each_listeners_spec_without_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let admin = server_command(dir.path()).args(["openapi", "--admin"]).output().unwrap();
    assert_exit(&admin, 0);
    let admin: Value = serde_json::from_slice(&admin.stdout).unwrap();
    assert!(admin["paths"]["/admin/v1/licenses"]["post"].is_object());
    let public = server_command(dir.path()).args(["openapi", "--public", "--yaml"]).output().unwrap();
    assert_exit(&public, 0);
    let yaml = stdout_of(&public);
    assert!(yaml.contains("/.well-known/jwks.json") && !yaml.contains("/admin/"), "{yaml}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "no database or key was created");
}

#[test]
fn production_refuses_to_start_unconfigured_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let output = server_command(dir.path()).env("TESSERA_ENVIRONMENT", "production").output().unwrap();
    assert_exit(&output, 2);
    let stderr = stderr_of(&output);
    assert!(stderr.contains("production"), "{stderr}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "no development file was created");

    let typo = server_command(dir.path()).env("TESSERA_SERVER__PUBLIK_ADDR", "127.0.0.1:1").output().unwrap();
    assert_exit(&typo, 2);
    assert!(stderr_of(&typo).to_lowercase().contains("publik_addr"), "{}", stderr_of(&typo));
}

#[test]
fn the_admin_api_lives_only_on_the_admin_listener() {
    let dir = tempfile::tempdir().unwrap();
    let server = RunningServer::start(dir.path());
    let token = std::fs::read_to_string(dir.path().join("tessera-admin-token")).unwrap();
    let client = reqwest::blocking::Client::new();
    let on_public =
        client.get(format!("{}/admin/v1/licenses", server.public_url)).bearer_auth(token.trim()).send().unwrap();
    assert_eq!(on_public.status().as_u16(), 404);
    let without_token = client.get(format!("{}/admin/v1/licenses", server.admin_url)).send().unwrap();
    assert_eq!(without_token.status().as_u16(), 401);
    let with_token =
        client.get(format!("{}/admin/v1/licenses", server.admin_url)).bearer_auth(token.trim()).send().unwrap();
    assert_eq!(with_token.status().as_u16(), 200);
    let docs = client.get(format!("{}/docs", server.admin_url)).send().unwrap();
    assert_eq!(docs.status().as_u16(), 200);
}
