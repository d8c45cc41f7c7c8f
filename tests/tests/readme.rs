//! The README runs as written: every shell block marked `<!-- runs as written -->`
//! is run, in order, by bash against a fresh server in a scratch copy of the
//! examples — only the two listeners' addresses differ (free ports here), and
//! `alias tessera=./target/release/tessera` becomes the test build's binary.

use std::path::Path;
use std::process::Command;

use tessera_blackbox::{binaries, RunningServer};

const MARK: &str = "<!-- runs as written -->";

/// The marked blocks of `readme`, in order.
fn runnable_blocks(readme: &str) -> Vec<String> {
    readme
        .split(MARK)
        .skip(1)
        .map(|after| {
            let body = after.trim_start().strip_prefix("```sh\n").expect("a ```sh block right after the mark");
            body[..body.find("\n```").expect("the block ends")].to_owned()
        })
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            if entry.file_name() != "node_modules" {
                copy_dir(&entry.path(), &target);
            }
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn every_marked_readme_block_runs_as_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let blocks = runnable_blocks(&readme);
    assert!(
        blocks.len() >= 5,
        "the walkthrough, the admin API, Gumroad, Lemon Squeezy, usage and import: {}",
        blocks.len()
    );

    // The server as the README starts it for the Gumroad section (a superset of the zero
    // configuration: the demo product and a Gumroad storefront), in a directory like a clone's.
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    copy_dir(&root.join("examples"), &dir.join("examples"));
    let server = RunningServer::start_with(dir, &[("TESSERA_CONFIG", "examples/storefronts/tessera.toml")]);

    // One terminal session, as the README's reader has: the alias of the first block holds
    // for the rest.
    let script: String = blocks
        .iter()
        .flat_map(|block| block.lines())
        .map(|line| {
            if line.starts_with("cargo build") && line.contains("alias tessera=") {
                "tessera() { \"$TESSERA_BIN\" \"$@\"; }".to_owned()
            } else {
                line.replace("http://127.0.0.1:8080", &server.public_url)
                    .replace("http://127.0.0.1:8081", &server.admin_url)
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let output = Command::new("bash")
        .args(["-euo", "pipefail", "-xc", &script])
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("TESSERA_BIN", &binaries().cli)
        .env("TESSERA_ADMIN_URL", &server.admin_url)
        .env("TESSERA_PUBLIC_URL", &server.public_url)
        .output()
        .unwrap();
    let all = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "the README's blocks failed; commands as run (bash -x) and their errors:\n{}\n--- stdout\n{all}",
        String::from_utf8_lossy(&output.stderr)
    );
    for expected in [
        "DEMO-PRO-ADA-00001",       // the walkthrough's license, listed and shown
        "\"status\":\"processed\"", // the Gumroad sale
        "lemon.buyer@example.com",  // the Lemon Squeezy order, listed
        "export.csv",               // the usage event, listed
        "shared_key",               // the flag, listed
        "inserted 3, skipped 0",    // the import
        "same bytes",               // the release, downloaded through its signed link
    ] {
        assert!(all.contains(expected), "`{expected}` in the README blocks' output:\n{all}");
    }
}
