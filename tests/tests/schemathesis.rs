//! Schemathesis against both specs of a running server: generated requests
//! (bounded examples, a fixed seed so CI is repeatable) must never get a 5xx,
//! and every answer must match its declared status, content type, headers and
//! schema; undeclared methods get 405 with `Allow`.
//!
//! Two checks are left out, on purpose: `positive_data_acceptance` (a schema
//! cannot say "a lease whose signature verifies" or "a license that exists",
//! so schema-valid requests are rightly refused) and `negative_data_rejection`
//! (poem-openapi reads a JSON number or boolean where a string is declared as
//! that text, so such requests are answered instead of refused).

use std::path::Path;
use std::process::Command;

use tessera_blackbox::RunningServer;

const CHECKS_LEFT_OUT: &str = "positive_data_acceptance,negative_data_rejection";

fn run(spec: &Path, url: &str, extra: &[&str]) -> (bool, String) {
    // Its cache (`.schemathesis/`) goes to a scratch directory, never the repository.
    let scratch = tempfile::tempdir().unwrap();
    let output = Command::new("schemathesis")
        .current_dir(scratch.path())
        .arg("run")
        .arg(spec)
        .args(["--url", url, "--checks", "all", "--exclude-checks", CHECKS_LEFT_OUT])
        .args(["--max-examples", "30", "--seed", "20261123", "--no-color"])
        .args(extra)
        .output()
        .expect("schemathesis is not installed (pip install 'schemathesis>=4,<5')");
    let report = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), report)
}

#[test]
#[ignore = "needs schemathesis (pip install 'schemathesis>=4,<5'); run with --include-ignored (CI does)"]
fn generated_requests_never_get_a_5xx_and_every_answer_matches_the_spec() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = tempfile::tempdir().unwrap();
    let server = RunningServer::start(dir.path());
    let token = std::fs::read_to_string(dir.path().join("tessera-admin-token")).unwrap();

    let (public_ok, public_report) = run(&root.join("openapi/public.json"), &server.public_url, &[]);
    assert!(public_ok, "schemathesis on the public spec:\n{public_report}");
    let bearer = format!("Authorization: Bearer {}", token.trim());
    let (admin_ok, admin_report) = run(&root.join("openapi/admin.json"), &server.admin_url, &["-H", &bearer]);
    assert!(admin_ok, "schemathesis on the admin spec:\n{admin_report}");
    for report in [&public_report, &admin_report] {
        let summary =
            report.lines().filter(|line| line.contains("generated") || line.contains("passed")).collect::<Vec<_>>();
        eprintln!("{}", summary.join("\n"));
    }
}
