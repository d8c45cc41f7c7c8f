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

/// The sibling modules of one crate that `file` names through `crate::…`.
fn modules_named_in(file: &str) -> std::collections::BTreeSet<String> {
    let mut named = std::collections::BTreeSet::new();
    let mut rest = file;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        // `use crate::{a::x, b}` names several; `crate::a::x` one.
        let group = if rest.starts_with('{') { &rest[1..rest.find('}').unwrap_or(rest.len())] } else { rest };
        for part in group.split(',') {
            let name: String = part.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if !name.is_empty() && part.trim()[name.len()..].starts_with("::") {
                named.insert(name);
            }
        }
    }
    named
}

/// No two files of a crate import each other, directly or round about: each
/// crate's top-level modules form a tree that a reader can follow one way.
#[test]
fn no_crate_has_an_import_cycle_between_its_modules() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let crates = [
        "domain",
        "adapters/sea-orm",
        "adapters/memory",
        "adapters/ring",
        "adapters/gumroad",
        "adapters/checkout",
        "adapters/postmark",
        "adapters/log-mail",
        "apps/server",
        "apps/cli",
        "client",
    ];
    for krate in crates {
        let src = root.join(krate).join("src");
        let mut graph = std::collections::BTreeMap::new();
        for entry in std::fs::read_dir(&src).unwrap() {
            let path = entry.unwrap().path();
            let module = path.file_stem().unwrap().to_string_lossy().into_owned();
            if module == "lib" || module == "main" {
                continue;
            }
            let mut text = String::new();
            if path.is_dir() {
                for file in std::fs::read_dir(&path).unwrap() {
                    let file = file.unwrap().path();
                    if file.extension().is_some_and(|ext| ext == "rs") {
                        text.push_str(&std::fs::read_to_string(file).unwrap());
                    }
                }
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                text = std::fs::read_to_string(&path).unwrap();
            } else {
                continue;
            }
            let mut named = modules_named_in(&text);
            named.remove(&module);
            graph.insert(module, named);
        }
        // Depth-first search for a back edge.
        fn visit(
            module: &str,
            graph: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
            path: &mut Vec<String>,
            done: &mut std::collections::BTreeSet<String>,
        ) -> Option<Vec<String>> {
            if let Some(start) = path.iter().position(|seen| seen == module) {
                let mut cycle = path[start..].to_vec();
                cycle.push(module.to_owned());
                return Some(cycle);
            }
            if !done.insert(module.to_owned()) {
                return None;
            }
            path.push(module.to_owned());
            for next in graph.get(module).into_iter().flatten().filter(|next| graph.contains_key(*next)) {
                if let Some(cycle) = visit(next, graph, path, done) {
                    return Some(cycle);
                }
            }
            path.pop();
            None
        }
        let mut done = std::collections::BTreeSet::new();
        for module in graph.keys() {
            let cycle = visit(module, &graph, &mut Vec::new(), &mut done);
            assert!(cycle.is_none(), "{krate}: modules import each other: {}", cycle.unwrap().join(" → "));
        }
    }
}
