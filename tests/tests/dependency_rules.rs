//! Architecture rules, checked on the real dependency graph (`cargo tree`):
//! the domain stays free of I/O, and the client crate a desktop app links
//! stays free of the server and its storage and HTTP stack.

use std::process::Command;

/// Every crate `package` depends on, directly or transitively (normal edges).
fn dependencies_of(package: &str) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["tree", "--offline", "-p", package, "-e", "normal", "--prefix", "none", "--format", "{p}"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo tree");
    assert!(output.status.success(), "cargo tree failed: {}", String::from_utf8_lossy(&output.stderr));
    let tree = String::from_utf8(output.stdout).expect("UTF-8");
    let crates: Vec<String> =
        tree.lines().filter_map(|line| line.split_whitespace().next()).map(str::to_owned).collect();
    assert!(crates.iter().any(|name| name == package), "cargo tree listed {package}: {tree}");
    assert!(crates.iter().any(|name| name == "serde"), "the tree lists transitive dependencies too: {tree}");
    crates
}

fn assert_free_of(package: &str, forbidden: &[&str]) {
    let crates = dependencies_of(package);
    let found: Vec<_> = forbidden.iter().filter(|name| crates.iter().any(|found| found == *name)).collect();
    assert!(found.is_empty(), "{package} must not depend on {found:?}");
}

#[test]
fn the_domain_depends_on_no_io_crate() {
    assert_free_of(
        "tessera-domain",
        &[
            "sea-orm",
            "sea-query",
            "sqlx",
            "poem",
            "poem-openapi",
            "hyper",
            "reqwest",
            "ring",
            "figment",
            "tracing-subscriber",
            "tokio",
            "mio",
        ],
    );
}

#[test]
fn the_client_crate_pulls_in_no_server_code() {
    assert_free_of(
        "tessera-client",
        &["tessera-server", "tessera-sea-orm", "sea-orm", "sqlx", "poem", "poem-openapi", "figment", "tessera-memory"],
    );
}
