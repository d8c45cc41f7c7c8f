//! Import speed: 100,000 issuance-log lines through `tessera import` into a
//! local release server on SQLite. Prints the numbers; the target is ≤ 60 s.
//!
//!     cargo bench -p tessera-blackbox --bench import [-- LINES]

use std::io::Write;
use std::process::Command;
use std::time::Instant;

use tessera_blackbox::{release_binaries, RunningServer};

fn main() {
    let lines: usize = std::env::args().skip(1).find_map(|arg| arg.parse().ok()).unwrap_or(100_000);
    let binaries = release_binaries();
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let path = dir.join("issued.jsonl");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    for n in 0..lines {
        let record = serde_json::json!({
            "license_key": format!("BENCH-PRO-{n:08x}-c0ffee"), "name": format!("Buyer {n}"),
            "email": format!("buyer{n}@example.com"), "tier": "pro",
            "issued_at": "2025-05-13T22:10:27Z", "expires_at": "2031-05-13T22:10:27Z",
            "blob": format!("DTLIC2:{}", "x".repeat(80)),
        });
        writeln!(file, "{record}").unwrap();
    }
    file.flush().unwrap();
    drop(file);
    let size = std::fs::metadata(&path).unwrap().len();

    let server = RunningServer::start_binary(&binaries.server, dir, &[]);
    let import = |label: &str| {
        let started = Instant::now();
        let output = Command::new(&binaries.cli)
            .current_dir(dir)
            .env_clear()
            .env("TESSERA_ADMIN_URL", &server.admin_url)
            .args(["--json", "import", "issued.jsonl", "--product", "demo"])
            .output()
            .unwrap();
        let seconds = started.elapsed().as_secs_f64();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        println!(
            "{label}: {lines} lines ({:.1} MB) in {seconds:.2} s = {:.0} lines/s (inserted {}, skipped {}, failed {})",
            size as f64 / 1e6,
            lines as f64 / seconds,
            summary["inserted"],
            summary["skipped"],
            summary["failed"]
        );
    };
    import("import (SQLite, release)");
    import("re-run, all skipped");
}
