//! The domain must stay free of I/O: no database, HTTP, crypto, config or
//! runtime crate may appear among its dependencies, direct or transitive.

use std::process::Command;

const FORBIDDEN: &[&str] = &[
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
];

#[test]
fn the_domain_depends_on_no_io_crate() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["tree", "--offline", "-p", "tessera-domain", "-e", "normal", "--prefix", "none", "--format", "{p}"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo tree");
    assert!(output.status.success(), "cargo tree failed: {}", String::from_utf8_lossy(&output.stderr));
    let tree = String::from_utf8(output.stdout).expect("UTF-8");
    let crates: Vec<&str> = tree.lines().filter_map(|line| line.split_whitespace().next()).collect();
    assert!(crates.contains(&"tessera-domain"), "cargo tree listed the domain: {tree}");
    assert!(crates.contains(&"serde"), "the tree lists transitive dependencies too: {tree}");
    let found: Vec<_> = FORBIDDEN.iter().filter(|name| crates.contains(name)).collect();
    assert!(found.is_empty(), "the domain must not depend on {found:?}");
}
