//! The committed OpenAPI specs (`openapi/*.json`, what integrators generate
//! clients from) are exactly what the code serves. After an intended API
//! change: `TESSERA_UPDATE_OPENAPI=1 cargo test -p tessera-server --test openapi_specs`.

use std::path::PathBuf;

use serde_json::Value;
use tessera_server::http::errors::ErrorCode;
use tessera_server::http::spec::{admin_spec, public_spec, to_json};

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
    check("public.json", to_json(&public_spec()));
}

#[test]
fn the_committed_admin_spec_is_the_generated_one() {
    check("admin.json", to_json(&admin_spec()));
}

#[test]
fn generating_a_spec_is_deterministic() {
    assert_eq!(to_json(&public_spec()), to_json(&public_spec()));
    assert_eq!(to_json(&admin_spec()), to_json(&admin_spec()));
}

fn operations(spec: &Value) -> Vec<(String, String, &Value)> {
    let mut all = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            all.push((method.to_uppercase(), path.clone(), operation));
        }
    }
    all
}

/// What a generated client needs to handle every answer.
#[test]
fn every_answer_the_server_gives_is_declared() {
    for spec in [public_spec(), admin_spec()] {
        assert!(!spec["servers"].as_array().unwrap().is_empty());
        for (method, path, operation) in operations(&spec) {
            let responses = operation["responses"].as_object().unwrap();
            assert!(operation["security"].is_array(), "{method} {path}: security declared (open: [])");
            assert!(responses.contains_key("413"), "{method} {path}: 413");
            assert!(!(method == "GET" && responses.contains_key("409")), "{method} {path}: no 409 on a read");
            assert!(!(responses.contains_key("200") && responses.contains_key("201")), "{method} {path}: 200 or 201");
            if method == "GET" {
                assert!(!responses.contains_key("201"), "{method} {path}: a read creates nothing");
            }
        }
    }
    let public = public_spec();
    for path in [
        "/v1/activate",
        "/v1/validate",
        "/v1/heartbeat",
        "/v1/deactivate",
        "/v1/usage",
        "/v1/flags",
        "/webhooks/{storefront}",
    ] {
        let limited = &public["paths"][path]["post"]["responses"]["429"];
        assert!(limited["headers"]["Retry-After"].is_object(), "{path}: 429 with Retry-After");
        assert!(limited["headers"]["X-RateLimit-Limit"].is_object(), "{path}: 429 with X-RateLimit-*");
    }
    for path in ["/v1/activate", "/v1/validate", "/v1/heartbeat"] {
        for (status, response) in public["paths"][path]["post"]["responses"].as_object().unwrap() {
            assert!(response["headers"]["Tessera-Signature"].is_object(), "{path} {status}: Tessera-Signature");
        }
    }
    assert_ne!(
        public["paths"]["/v1/usage"]["post"]["security"],
        serde_json::json!([]),
        "a secured operation keeps its scheme"
    );
}

/// `code` is an enum a TypeScript `switch` can be exhaustive over.
#[test]
fn codes_are_enums() {
    let codes: Vec<&str> = ErrorCode::ALL.iter().map(|code| code.as_str()).collect();
    for spec in [public_spec(), admin_spec()] {
        let schema = &spec["components"]["schemas"]["ErrorBody"]["properties"]["code"];
        let declared = &spec["components"]["schemas"]["ErrorCode"]["enum"];
        assert!(schema.to_string().contains("#/components/schemas/ErrorCode"), "{schema}");
        let declared: Vec<&str> = declared.as_array().unwrap().iter().map(|code| code.as_str().unwrap()).collect();
        assert_eq!(declared, codes);
    }
    let verdicts = &public_spec()["components"]["schemas"]["ValidationVerdict"]["enum"];
    assert!(verdicts.as_array().unwrap().contains(&Value::from("VALID")), "{verdicts}");
}
