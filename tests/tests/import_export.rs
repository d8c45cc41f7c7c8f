//! `tessera import` / `tessera export` on the real binaries with a generated
//! issuance log of 10,000 lines, some of them malformed.

use std::io::Write;
use std::path::Path;

use serde_json::{json, Value};
use tessera_blackbox::{assert_exit, cli, stderr_of, stdout_of, RunningServer};

const LINES: usize = 10_000;

/// Line numbers (1-based) that are broken, and how.
fn broken(line: usize) -> Option<&'static str> {
    match line {
        17 => Some("{not json"),
        500 => Some("[1, 2, 3]"),
        1000 => Some(
            r#"{"license_key": "LEG-NO-EMAIL-1", "name": "X", "tier": "pro", "issued_at": "2025-01-01T00:00:00Z"}"#,
        ),
        2000 => Some(
            r#"{"license_key": "LEG-BAD-DATE-1", "name": "X", "email": "x@example.com", "tier": "pro", "issued_at": "last tuesday"}"#,
        ),
        3000 => Some(
            r#"{"license_key": "LEG-BAD-TIER-1", "name": "X", "email": "x@example.com", "tier": "gold", "issued_at": "2025-01-01T00:00:00Z"}"#,
        ),
        4000 => Some(
            r#"{"license_key": 42, "name": "X", "email": "x@example.com", "tier": "pro", "issued_at": "2025-01-01T00:00:00Z"}"#,
        ),
        5000 => Some(
            r#"{"license_key": "bad key!", "name": "X", "email": "x@example.com", "tier": "pro", "issued_at": "2025-01-01T00:00:00Z"}"#,
        ),
        6000 => Some(
            r#"{"license_key": "LEG-BAD-EMAIL", "name": "X", "email": "not-an-email", "tier": "pro", "issued_at": "2025-01-01T00:00:00Z"}"#,
        ),
        _ => None,
    }
}

fn write_log(path: &Path) {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for line in 1..=LINES {
        match broken(line) {
            Some(text) => writeln!(file, "{text}").unwrap(),
            None => {
                let record = json!({
                    "license_key": format!("LEG-PRO-{line:08x}-c0ffee"),
                    "name": format!("Buyer {line}"),
                    "email": format!("buyer{line}@example.com"),
                    "tier": if line % 3 == 0 { "standard" } else { "pro" },
                    "issued_at": "2025-05-13T22:10:27Z",
                    "expires_at": if line % 3 == 0 { Value::Null } else { json!("2031-05-13T22:10:27Z") },
                    "blob": format!("DTLIC2:legacy-{line}"),
                });
                writeln!(file, "{record}").unwrap();
            }
        }
    }
}

#[test]
fn ten_thousand_lines_import_once_with_bad_lines_reported_and_export_back() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let server = RunningServer::start(dir);
    write_log(&dir.join("issued.jsonl"));
    let broken_count = (1..=LINES).filter(|line| broken(*line).is_some()).count() as u64;
    let good = LINES as u64 - broken_count;

    let dry = cli(dir, &server.admin_url, &["--json", "import", "issued.jsonl", "--product", "demo", "--dry-run"]);
    assert_exit(&dry, 1);
    let dry: Value = serde_json::from_slice(&dry.stdout).unwrap();
    assert_eq!((dry["would_insert"].as_u64(), dry["inserted"].as_u64()), (Some(good), Some(0)));
    let listed = cli(dir, &server.admin_url, &["--json", "list"]);
    assert_eq!(
        serde_json::from_slice::<Value>(&listed.stdout).unwrap()["items"],
        json!([]),
        "a dry run writes nothing"
    );

    let imported = cli(dir, &server.admin_url, &["import", "issued.jsonl", "--product", "demo"]);
    assert_exit(&imported, 1);
    assert!(
        stdout_of(&imported).contains(&format!("inserted {good}, skipped 0 (already there), {broken_count} failed"))
    );
    let errors = stderr_of(&imported);
    for (line, reason) in [
        (17, "not JSON"),
        (500, "not a JSON object"),
        (1000, "email is missing"),
        (2000, "issued_at is not an RFC 3339 time"),
        (3000, "no tier `gold`"),
        (4000, "license_key must be a string"),
        (5000, "license_key must be"),
        (6000, "not a valid email"),
    ] {
        assert!(
            errors.lines().any(|text| text.starts_with(&format!("line {line}:")) && text.contains(reason)),
            "line {line}: {errors}"
        );
    }

    // Re-running inserts nothing.
    let again = cli(dir, &server.admin_url, &["--json", "import", "issued.jsonl", "--product", "demo"]);
    let again: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!((again["inserted"].as_u64(), again["skipped"].as_u64()), (Some(0), Some(good)));

    // Keys and dates are kept; each license has a Tessera token that verifies.
    let shown = cli(dir, &server.admin_url, &["--json", "show", "leg-pro-00000002-c0ffee"]);
    assert_exit(&shown, 0);
    let license: Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(license["key"], "LEG-PRO-00000002-C0FFEE");
    assert_eq!(
        (license["issued_at"].as_str(), license["expires_at"].as_str()),
        (Some("2025-05-13T22:10:27Z"), Some("2031-05-13T22:10:27Z"))
    );
    assert_eq!((license["source"].as_str(), license["tier"].as_str()), (Some("import"), Some("pro")));
    std::fs::write(dir.join("imported.lic"), license["token"].as_str().unwrap()).unwrap();
    let jwks = format!("{}/.well-known/jwks.json", server.public_url);
    let verified = cli(dir, &server.admin_url, &["--json", "verify", "imported.lic", "--jwks", &jwks]);
    assert_exit(&verified, 0);
    assert_eq!(serde_json::from_slice::<Value>(&verified.stdout).unwrap()["claims"]["iat"], 1747174227);

    // Export: every license, in the import format plus token; it imports back as all skipped.
    let exported = cli(dir, &server.admin_url, &["export"]);
    assert_exit(&exported, 0);
    let lines: Vec<Value> = stdout_of(&exported).lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(lines.len() as u64, good);
    let one = lines.iter().find(|line| line["license_key"] == "LEG-PRO-00000002-C0FFEE").unwrap();
    assert_eq!((one["blob"].as_str(), one["email"].as_str()), (Some("DTLIC2:legacy-2"), Some("buyer2@example.com")));
    assert!(one["token"].as_str().unwrap().starts_with("ey"));
    std::fs::write(dir.join("export.jsonl"), stdout_of(&exported)).unwrap();
    let round_trip = cli(dir, &server.admin_url, &["--json", "import", "export.jsonl"]);
    assert_exit(&round_trip, 0);
    let round_trip: Value = serde_json::from_slice(&round_trip.stdout).unwrap();
    assert_eq!((round_trip["skipped"].as_u64(), round_trip["failed"].as_u64()), (Some(good), Some(0)));
}
