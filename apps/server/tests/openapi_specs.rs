//! The committed OpenAPI specs (`openapi/*.json`, what integrators generate
//! clients from) are exactly what the code serves. After an intended API
//! change: `TESSERA_UPDATE_OPENAPI=1 cargo test -p tessera-server --test openapi_specs`.

use std::path::PathBuf;

use tessera_server::http::{admin_api, public_api};

fn check(file: &str, generated: String) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../openapi").join(file);
    let generated = format!("{generated}\n");
    if std::env::var("TESSERA_UPDATE_OPENAPI").as_deref() == Ok("1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} differs from the spec the code generates; if the change is intended, run \
         TESSERA_UPDATE_OPENAPI=1 cargo test -p tessera-server --test openapi_specs and commit it",
        path.display()
    );
}

#[test]
fn the_committed_public_spec_is_the_generated_one() {
    check("public.json", public_api().spec());
}

#[test]
fn the_committed_admin_spec_is_the_generated_one() {
    check("admin.json", admin_api().spec());
}

#[test]
fn generating_a_spec_is_deterministic() {
    assert_eq!(public_api().spec(), public_api().spec());
    assert_eq!(admin_api().spec(), admin_api().spec());
}
