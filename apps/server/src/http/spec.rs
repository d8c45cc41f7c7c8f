//! The published OpenAPI documents: what poem-openapi derives from the
//! operations, completed with what its derive cannot say but the server does —
//! so that a client generated from the spec knows every answer it can get:
//!
//! - `security: []` on open operations and a `servers` entry;
//! - `413` on every operation (the body limit applies to any request), `415`
//!   on the admin operations that take a body, `429`
//!   with `Retry-After` and `X-RateLimit-*` on every rate-limited route;
//! - `Tessera-Signature` on every answer of the signed routes;
//! - the storefront webhook path, served by a plain handler;
//! - `nullable` references written so OpenAPI 3.0 tools read them (a type
//!   beside `nullable`).
//!
//! The portal's pages are HTML for browsers and stay out of the spec.

use serde_json::{json, Value};

use super::{admin_api, public_api, SIGNED_PATHS};
use crate::rate_limit::{LIMITED_PREFIXES, LIMITED_ROUTES};

const RATE_HEADERS: [(&str, &str); 3] = [
    ("X-RateLimit-Limit", "Requests allowed per window on this route for this client address."),
    ("X-RateLimit-Remaining", "Requests left in the current window."),
    ("X-RateLimit-Reset", "Seconds until a request is allowed again (on a 429)."),
];

/// The public listener's document, as served at `/openapi.json`.
pub fn public_spec() -> Value {
    let mut spec: Value = serde_json::from_str(&public_api().spec()).expect("poem-openapi writes JSON");
    add_webhooks(&mut spec);
    add_downloads(&mut spec);
    add_machine_input_limits(&mut spec);
    complete(
        &mut spec,
        "http://127.0.0.1:8080",
        "The public listener (`server.public_addr`; behind TLS in production).",
    );
    spec
}

/// The admin listener's document, as served at `/openapi.json` and in Swagger UI.
pub fn admin_spec() -> Value {
    let mut spec: Value = serde_json::from_str(&admin_api().spec()).expect("poem-openapi writes JSON");
    // A body without its JSON `Content-Type` is refused before the operation runs.
    let error = json!({ "$ref": "#/components/schemas/ErrorBody" });
    for item in spec["paths"].as_object_mut().expect("paths").values_mut() {
        for operation in item.as_object_mut().expect("a path item").values_mut() {
            let body_type = operation["requestBody"]["content"]
                .as_object()
                .and_then(|content| content.keys().next())
                .map(|kind| kind.split(';').next().unwrap_or_default().to_owned());
            if let Some(kind) = body_type {
                operation["responses"]["415"] =
                    error_response(&format!("The body is not `{kind}` (`UNSUPPORTED_MEDIA_TYPE`)."), &error);
            }
        }
    }
    complete(&mut spec, "http://127.0.0.1:8081", "The admin listener (`server.admin_addr`), through an SSH tunnel.");
    spec
}

/// `spec` as pretty JSON (what `/openapi.json` answers and the repository keeps).
pub fn to_json(spec: &Value) -> String {
    serde_json::to_string_pretty(spec).expect("a JSON value serializes")
}

/// `spec` as YAML.
pub fn to_yaml(spec: &Value) -> String {
    serde_yaml::to_string(spec).expect("a JSON value is YAML")
}

fn complete(spec: &mut Value, server: &str, server_description: &str) {
    spec["servers"] = json!([{ "url": server, "description": server_description }]);
    spec["info"]["license"] = json!({ "name": "Apache-2.0", "url": "https://www.apache.org/licenses/LICENSE-2.0" });
    let error = json!({ "$ref": "#/components/schemas/ErrorBody" });
    let paths = spec["paths"].as_object_mut().expect("paths");
    for (path, item) in paths.iter_mut() {
        let limited = LIMITED_ROUTES.iter().any(|(route, _)| route == path)
            || LIMITED_PREFIXES.iter().any(|(prefix, _)| path.starts_with(prefix))
            || path == "/webhooks/{storefront}";
        let buyer = BUYER_PATHS.iter().any(|prefix| path.starts_with(prefix));
        let signed = SIGNED_PATHS.contains(&path.as_str());
        for (_, operation) in item.as_object_mut().expect("a path item").iter_mut() {
            let operation = operation.as_object_mut().expect("an operation");
            if buyer && !path.starts_with("/v1/downloads/") {
                // The license token, a lease token or the key; the feeds also take `?license_key=`.
                let anonymous = if path.starts_with("/v1/updates/") { vec![json!({})] } else { vec![] };
                let mut schemes = vec![json!({ "BuyerCredential": [] })];
                schemes.extend(anonymous);
                operation.insert("security".into(), Value::Array(schemes));
            }
            operation.entry("security").or_insert_with(|| json!([]));
            let responses = operation.entry("responses").or_insert_with(|| json!({}));
            let responses = responses.as_object_mut().expect("responses");
            responses
                .entry("413")
                .or_insert_with(|| error_response("The request body is over 64 KiB (`PAYLOAD_TOO_LARGE`).", &error));
            if limited {
                let mut too_many = error_response(
                    "Too many requests from this address (`RATE_LIMITED`); retry after `Retry-After` seconds.",
                    &error,
                );
                too_many["headers"]["Retry-After"] = header("Seconds to wait before retrying.", "integer");
                responses.insert("429".into(), too_many);
                for (_, response) in responses.iter_mut() {
                    for (name, description) in RATE_HEADERS {
                        response["headers"][name] = header(description, "integer");
                    }
                }
            }
            if signed {
                for (_, response) in responses.iter_mut() {
                    response["headers"]["Tessera-Signature"] = header(
                        "`kid=\"…\", alg=\"EdDSA\", sig=\"<base64url>\"`: an Ed25519 signature over the exact \
                         response body bytes, verifiable with the key of that `kid` in the JWKS.",
                        "string",
                    );
                }
            }
        }
    }
    type_nullable_references(spec);
}

/// The routes a buyer's credential opens (contract §4, §9).
const BUYER_PATHS: [&str; 4] = ["/v1/releases/", "/v1/artifacts/", "/v1/updates/", "/v1/downloads/"];

fn error_response(description: &str, error: &Value) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": error } } })
}

fn header(description: &str, kind: &str) -> Value {
    json!({ "description": description, "schema": { "type": kind } })
}

/// poem-openapi writes a nullable object field as `{"allOf": [{"$ref": …},
/// {"description": …, "nullable": true}]}`; OpenAPI 3.0 only honours
/// `nullable` beside a `type`, so it becomes `{"type": "object", "nullable":
/// true, "description": …, "allOf": [{"$ref": …}]}`; a nullable free-form
/// value gets `"type": "object"`.
fn type_nullable_references(value: &mut Value) {
    match value {
        Value::Object(object) => {
            let is_untyped_nullable = |item: &Value| {
                item.get("nullable") == Some(&Value::Bool(true))
                    && item.get("type").is_none()
                    && item.get("$ref").is_none()
            };
            let mut lifted = None;
            if let Some(Value::Array(parts)) = object.get_mut("allOf") {
                if let Some(index) = parts.iter().position(is_untyped_nullable) {
                    lifted = Some(parts.remove(index));
                }
            }
            if let Some(Value::Object(mut part)) = lifted {
                part.remove("nullable");
                object.extend(part);
                object.insert("type".into(), json!("object"));
                object.insert("nullable".into(), json!(true));
            }
            // `{"allOf": [{"$ref": …}, {"description": …}]}` (a documented
            // reference to an enum) is just the reference: tools cannot take
            // `allOf` of a non-object, and 3.0 ignores siblings of `$ref`.
            let described_reference = match object.get("allOf") {
                Some(Value::Array(parts)) => {
                    parts.len() == 2
                        && parts[0].get("$ref").is_some()
                        && parts[1].as_object().is_some_and(|part| part.keys().all(|key| key == "description"))
                }
                _ => false,
            };
            if described_reference && !object.contains_key("nullable") {
                let reference = object["allOf"][0].clone();
                object.clear();
                object.extend(reference.as_object().cloned().unwrap_or_default());
            }
            // A nullable free-form value (the usage and flag `metadata`) is a JSON object.
            if object.get("nullable") == Some(&Value::Bool(true)) && !object.contains_key("type") {
                object.insert("type".into(), json!("object"));
            }
            object.values_mut().for_each(type_nullable_references);
        }
        Value::Array(items) => items.iter_mut().for_each(type_nullable_references),
        _ => {}
    }
}

/// The limits of what a machine sends, as the domain's newtypes check them
/// (`Fingerprint`, `Nonce`, `AppVersion`, `Platform`, `MachineName`): the
/// schema says exactly what the handlers accept, and the codes they answer
/// come from the domain, not from a schema validator.
fn add_machine_input_limits(spec: &mut Value) {
    use tessera_domain::license::{
        APP_VERSION_PATTERN, MAX_APP_VERSION_LEN, MAX_FINGERPRINT_LEN, MAX_MACHINE_NAME_LEN, MAX_NONCE_LEN,
        MAX_PLATFORM_LEN, PRINTABLE_PATTERN, VISIBLE_ASCII_PATTERN,
    };
    let fields: [(&str, Option<usize>, usize, &str); 5] = [
        ("fingerprint", Some(1), MAX_FINGERPRINT_LEN, VISIBLE_ASCII_PATTERN),
        ("nonce", Some(1), MAX_NONCE_LEN, VISIBLE_ASCII_PATTERN),
        ("app_version", Some(1), MAX_APP_VERSION_LEN, APP_VERSION_PATTERN),
        ("platform", None, MAX_PLATFORM_LEN, PRINTABLE_PATTERN),
        ("machine_name", None, MAX_MACHINE_NAME_LEN, PRINTABLE_PATTERN),
    ];
    for schema in ["ActivateRequest", "ValidateRequest", "HeartbeatRequest", "DeactivateRequest"] {
        let properties = &mut spec["components"]["schemas"][schema]["properties"];
        for (field, min, max, pattern) in fields {
            if let Some(property) = properties.get_mut(field) {
                if let Some(min) = min {
                    property["minLength"] = json!(min);
                }
                property["maxLength"] = json!(max);
                property["pattern"] = json!(pattern);
            }
        }
    }
}

/// `POST /webhooks/{storefront}`: served by a plain handler (it must keep the
/// raw body), documented here.
fn add_webhooks(spec: &mut Value) {
    let error = json!({ "$ref": "#/components/schemas/ErrorBody" });
    let operation = json!({
        "post": {
            "tags": ["Webhooks"],
            "summary": "Receive a storefront's webhook",
            "description": "Gumroad posts its form-encoded ping (or JSON) to `/webhooks/gumroad?secret=…`; a custom \
                checkout posts signed JSON to `/webhooks/checkout` with `Tessera-Signature: t=…,v1=…`; Lemon \
                Squeezy (`X-Signature`), Paddle Billing (`Paddle-Signature: ts=…;h1=…`), Stripe \
                (`Stripe-Signature: t=…,v1=…`) and Polar (Standard Webhooks: `webhook-id`, `webhook-timestamp`, \
                `webhook-signature`) post their own signed JSON to `/webhooks/lemonsqueezy`, `/webhooks/paddle`, \
                `/webhooks/stripe` and `/webhooks/polar`. The raw \
                delivery is stored before anything else: `200` means it is recorded, whatever processing then \
                found (the receipt's `status`; failures are kept for the operator to replay). A storefront \
                retries on `5xx`.",
            "operationId": "receiveWebhook",
            "security": [],
            "parameters": [
                {
                    "name": "storefront", "in": "path", "required": true,
                    "description": "A configured storefront: `gumroad`, `checkout`, `lemonsqueezy`, `paddle`, `stripe` or `polar`.",
                    "schema": { "type": "string", "maxLength": 32 }
                },
                {
                    "name": "secret", "in": "query", "required": false,
                    "description": "Gumroad only: the secret of the post URL configured at Gumroad.",
                    "schema": { "type": "string" }
                }
            ],
            "requestBody": {
                "required": true,
                "content": {
                    "application/x-www-form-urlencoded": {
                        "schema": { "type": "object", "additionalProperties": { "type": "string" } }
                    },
                    "application/json": { "schema": { "type": "object" } }
                }
            },
            "responses": {
                "200": {
                    "description": "Recorded; `status` says what processing found.",
                    "content": { "application/json": { "schema": { "$ref": "#/components/schemas/WebhookReceipt" } } }
                },
                "400": error_response("The body could not be read (`INVALID_REQUEST`).", &error),
                "401": error_response("Wrong secret, signature or seller, or a signature's timestamp outside its window (`UNAUTHORIZED`); nothing stored.", &error),
                "404": error_response("No such storefront is configured (`NOT_FOUND`).", &error),
                "500": error_response("The delivery could not be recorded (`INTERNAL`); the storefront retries.", &error),
                "503": error_response("The database is unavailable (`UNAVAILABLE`); the storefront retries.", &error)
            }
        }
    });
    spec["paths"]["/webhooks/{storefront}"] = operation;
    spec["components"]["schemas"]["WebhookReceipt"] = json!({
        "type": "object",
        "required": ["event_id", "status"],
        "properties": {
            "event_id": { "type": "string", "format": "uuid", "description": "The stored event (admin `storefront-events`)." },
            "status": {
                "type": "string",
                "enum": ["received", "processed", "duplicate", "ignored", "failed"],
                "description": "`received` when the outcome could not be stored (the event is replayable)."
            },
            "license_key": { "type": "string", "nullable": true, "description": "The license the event minted or changed." }
        }
    });
    let tags = spec["tags"].as_array_mut().expect("tags");
    tags.push(json!({ "name": "Webhooks", "description": "Storefronts' sale, refund and subscription events." }));
}

/// The Sparkle appcast and the download links: plain handlers (XML, and
/// bytes with `Range`), documented here; and the buyer's credential scheme.
fn add_downloads(spec: &mut Value) {
    let error = json!({ "$ref": "#/components/schemas/ErrorBody" });
    let query = |name: &str, description: &str| {
        json!({ "name": name, "in": "query", "required": false, "description": description,
                "schema": { "type": "string", "maxLength": 64 } })
    };
    spec["paths"]["/v1/updates/sparkle/{product}/appcast.xml"] = json!({
        "get": {
            "tags": ["Releases"],
            "summary": "Sparkle appcast",
            "description": "Every release this license may use (newest first) with its macOS file: an RSS 2.0 \
                appcast whose enclosures carry `sparkle:version`, `sparkle:shortVersionString`, `length` and \
                `sparkle:edSignature` (Ed25519 of the file by Tessera's key; the app embeds the JWKS `x` as \
                standard base64 in `SUPublicEDKey`). Enclosure URLs are signed download links.",
            "operationId": "sparkleAppcast",
            "parameters": [
                { "name": "product", "in": "path", "required": true, "schema": { "type": "string", "maxLength": 64 } },
                query("license_key", "The license key, when the updater cannot send a header."),
                query("channel", "Default `stable`."),
                query("arch", "`x86_64`, `aarch64`, …; omitted: every arch.")
            ],
            "responses": {
                "200": { "description": "The appcast.", "content": { "application/rss+xml": { "schema": { "type": "string" } } } },
                "400": error_response("A malformed parameter (`INVALID_REQUEST`, `INVALID_KEY`).", &error),
                "401": error_response("No credential, or a token that does not verify (`UNAUTHORIZED`).", &error),
                "403": error_response("The license may use no release (`NOT_FOUND`, `REVOKED`, `SUSPENDED`, `EXPIRED`, …).", &error),
                "500": error_response("Unexpected failure (`INTERNAL`).", &error),
                "503": error_response("The database is unavailable (`UNAVAILABLE`).", &error)
            }
        }
    });
    spec["paths"]["/v1/downloads/{id}/{filename}"] = json!({
        "get": {
            "tags": ["Releases"],
            "summary": "A signed download link",
            "description": "What `GET /v1/artifacts/{id}` and the update feeds point at: the file's bytes, \
                whole or one `Range` (resumable; `If-Range`, `If-None-Match` with its `ETag`). Needs no other \
                credential: the `token` names the license and the file and expires within minutes \
                (hours in a feed). A download from the first byte is counted and audited.",
            "operationId": "downloadFile",
            "parameters": [
                { "name": "id", "in": "path", "required": true, "schema": { "type": "string", "maxLength": 64 } },
                { "name": "filename", "in": "path", "required": true, "schema": { "type": "string", "maxLength": 200 } },
                { "name": "token", "in": "query", "required": true, "schema": { "type": "string", "maxLength": 4096 } },
                { "name": "Range", "in": "header", "required": false, "schema": { "type": "string" } }
            ],
            "responses": {
                "200": { "description": "The whole file.", "content": { "application/octet-stream": { "schema": { "type": "string", "format": "binary" } } } },
                "206": { "description": "The range asked for.", "content": { "application/octet-stream": { "schema": { "type": "string", "format": "binary" } } } },
                "304": { "description": "Not modified (`If-None-Match`)." },
                "403": error_response("A forged or altered link, or a license no longer allowed (`UNAUTHORIZED`, `REVOKED`, …).", &error),
                "410": error_response("The link expired (`EXPIRED`) or the file is no longer offered (`NOT_FOUND`).", &error),
                "416": error_response("The range lies outside the file (`INVALID_REQUEST`).", &error),
                "500": error_response("Unexpected failure (`INTERNAL`).", &error),
                "503": error_response("The database or the storage is unavailable (`UNAVAILABLE`).", &error)
            }
        }
    });
    spec["components"]["securitySchemes"]["BuyerCredential"] = json!({
        "type": "http",
        "scheme": "bearer",
        "description": "The license token, a lease token, or the license key itself."
    });
}
