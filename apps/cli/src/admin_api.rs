//! The admin API as the CLI calls it: one method per operation, every admin
//! path the CLI uses in this file, request bodies and list filters as typed
//! structs, answers as JSON for the printers. The commands never build a path,
//! a body or a query by hand. The tests below call every method against a
//! recorder and check each request (method, path, query names, body fields)
//! against the committed `openapi/admin.json`. The answers a command decides
//! on (a mint's token and email, a replay's outcome) are typed too, and held
//! to their response schemas the same way.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::admin_client::{path_segment, AdminClient, CliError};

/// `POST /admin/v1/licenses` (`MintLicenseRequest`).
#[derive(Debug, Default, Serialize)]
pub struct MintRequest {
    pub product: String,
    pub tier: String,
    pub name: String,
    pub email: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seats: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_days: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_ref: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_versions: Option<Vec<u32>>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub send_email: bool,
}

/// `POST /admin/v1/licenses/{key}/renew` (`RenewRequest`).
#[derive(Debug, Default, Serialize)]
pub struct RenewRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_days: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

/// `POST /admin/v1/flags/{id}/review` (`ReviewRequest`).
#[derive(Debug, Serialize)]
pub struct ReviewRequest {
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

/// `PATCH /admin/v1/customers/{email}` (`CustomerPatch`).
#[derive(Debug, Default, Serialize)]
pub struct CustomerPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `POST /admin/v1/licenses/import` (`ImportRequest`): one batch of the
/// issuance log; each record is a log line as read (the server checks it).
#[derive(Debug, Serialize)]
pub struct ImportRequest<'a> {
    pub product: Option<&'a str>,
    pub dry_run: bool,
    pub records: Vec<Value>,
}

/// The fields a log record may have; anything else is ignored.
const FIELDS: [&str; 8] = ["license_key", "name", "email", "tier", "issued_at", "expires_at", "blob", "product"];

/// The import record for one line of an issuance log, or why the line is unusable.
pub fn import_record(line: u64, text: &str) -> Result<Value, String> {
    let parsed: Value = serde_json::from_str(text).map_err(|error| format!("not JSON: {error}"))?;
    let object = parsed.as_object().ok_or("not a JSON object")?;
    let mut record = Map::new();
    record.insert("line".into(), json!(line));
    for field in FIELDS {
        match object.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::String(value)) => {
                record.insert(field.into(), json!(value));
            }
            Some(other) => return Err(format!("{field} must be a string, not {other}")),
        }
    }
    Ok(Value::Object(record))
}

/// A state change of one license.
#[derive(Debug, Clone, Copy)]
pub enum Lifecycle {
    Suspend,
    Reinstate,
}

/// `POST /admin/v1/releases` (`NewRelease`).
#[derive(Debug, Default, Serialize)]
pub struct NewReleaseRequest {
    pub product: String,
    pub version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

/// The query of `PUT /admin/v1/releases/{id}/artifacts/{filename}`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UploadParams {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updater_signature: Option<String>,
}

/// A list's page: its size and the previous page's `next_cursor`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PageParams {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// Declares a list's filters: every one optional, sent only when set.
macro_rules! filters {
    ($(#[doc = $doc:literal])* $name:ident { $($field:ident),* $(,)? }) => {
        $(#[doc = $doc])*
        #[derive(Debug, Clone, Default, Serialize)]
        pub struct $name {
            $(#[serde(skip_serializing_if = "Option::is_none")] pub $field: Option<String>,)*
        }
    };
}

filters! {
    /// `GET /admin/v1/licenses`; `q` is a substring of key, name or email.
    LicenseFilters { email, product, status, source, q }
}
filters! {
    /// `GET /admin/v1/storefront-events`.
    EventFilters { storefront, status }
}
filters! {
    /// `GET /admin/v1/deliveries`.
    DeliveryFilters { status, license_key }
}
filters! {
    /// `GET /admin/v1/audit`; `entity_id` is a license key for license events.
    AuditFilters { entity_id, since, actor, action }
}
filters! {
    /// `GET /admin/v1/usage`.
    UsageFilters { license_key, event, since }
}
filters! {
    /// `GET /admin/v1/flags`.
    FlagFilters { status, license_key }
}
filters! {
    /// `GET /admin/v1/customers`; `q` is a substring of email or name.
    CustomerFilters { q }
}
filters! {
    /// `GET /admin/v1/releases`.
    ReleaseFilters { product, channel, status }
}

/// `MintedLicenseBody`: the license, its token and, when asked, its email.
#[derive(Debug, Serialize, Deserialize)]
pub struct Minted {
    /// Printed field by field (`output::LICENSE`).
    pub license: Value,
    pub token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<QueuedEmail>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_error: Option<String>,
}

/// The part of a `DeliveryBody` a mint prints.
#[derive(Debug, Serialize, Deserialize)]
pub struct QueuedEmail {
    pub id: String,
    pub to: String,
    /// The rest of the delivery, kept for `--json`.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `StorefrontEventBody` after a replay: whether it is fulfilled now.
#[derive(Debug, Serialize, Deserialize)]
pub struct ReplayedEvent {
    pub status: String,
    #[serde(default)]
    pub error: Option<String>,
    /// The rest of the event, printed as a table row (`output::EVENTS`).
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

fn typed<T: serde::de::DeserializeOwned>(answer: Value) -> Result<T, CliError> {
    serde_json::from_value(answer)
        .map_err(|error| CliError::Local(format!("the server's answer is not what the admin spec says: {error}")))
}

fn body<T: Serialize>(request: &T) -> Value {
    serde_json::to_value(request).expect("a request serializes")
}

impl AdminClient {
    pub fn mint(&self, request: &MintRequest, idempotency_key: Option<&str>) -> Result<Minted, CliError> {
        let header = idempotency_key.map(|key| ("Idempotency-Key", key));
        typed(self.post_with("/admin/v1/licenses", &body(request), header)?)
    }

    pub fn licenses(&self, filters: &LicenseFilters, page: &PageParams) -> Result<Value, CliError> {
        self.list("/admin/v1/licenses", filters, page)
    }

    pub fn license(&self, key: &str) -> Result<Value, CliError> {
        self.get(&format!("/admin/v1/licenses/{}", path_segment(key)))
    }

    pub fn revoke(&self, key: &str, reason: &str) -> Result<Value, CliError> {
        let path = format!("/admin/v1/licenses/{}/revoke", path_segment(key));
        self.post(&path, &serde_json::json!({ "reason": reason }))
    }

    pub fn change(&self, key: &str, change: Lifecycle) -> Result<Value, CliError> {
        let verb = match change {
            Lifecycle::Suspend => "suspend",
            Lifecycle::Reinstate => "reinstate",
        };
        self.post(&format!("/admin/v1/licenses/{}/{verb}", path_segment(key)), &Value::Null)
    }

    pub fn renew(&self, key: &str, request: &RenewRequest) -> Result<Value, CliError> {
        self.post(&format!("/admin/v1/licenses/{}/renew", path_segment(key)), &body(request))
    }

    pub fn redeliver(&self, key: &str) -> Result<Value, CliError> {
        self.post(&format!("/admin/v1/licenses/{}/redeliver", path_segment(key)), &Value::Null)
    }

    pub fn import_licenses(&self, request: &ImportRequest) -> Result<Value, CliError> {
        self.post("/admin/v1/licenses/import", &body(request))
    }

    pub fn deactivate_machine(&self, activation_id: &str) -> Result<Value, CliError> {
        self.post(&format!("/admin/v1/activations/{}/deactivate", path_segment(activation_id)), &Value::Null)
    }

    pub fn storefront_events(&self, filters: &EventFilters, page: &PageParams) -> Result<Value, CliError> {
        self.list("/admin/v1/storefront-events", filters, page)
    }

    pub fn replay(&self, event_id: &str) -> Result<ReplayedEvent, CliError> {
        typed(self.post(&format!("/admin/v1/storefront-events/{}/replay", path_segment(event_id)), &Value::Null)?)
    }

    pub fn deliveries(&self, filters: &DeliveryFilters, page: &PageParams) -> Result<Value, CliError> {
        self.list("/admin/v1/deliveries", filters, page)
    }

    pub fn retry_delivery(&self, delivery_id: &str) -> Result<Value, CliError> {
        self.post(&format!("/admin/v1/deliveries/{}/retry", path_segment(delivery_id)), &Value::Null)
    }

    pub fn audit(&self, filters: &AuditFilters, page: &PageParams) -> Result<Value, CliError> {
        self.list("/admin/v1/audit", filters, page)
    }

    pub fn stats(&self) -> Result<Value, CliError> {
        self.get("/admin/v1/stats")
    }

    pub fn keys(&self) -> Result<Value, CliError> {
        self.get("/admin/v1/keys")
    }

    pub fn usage(&self, filters: &UsageFilters, page: &PageParams) -> Result<Value, CliError> {
        self.list("/admin/v1/usage", filters, page)
    }

    pub fn flags(&self, filters: &FlagFilters, page: &PageParams) -> Result<Value, CliError> {
        self.list("/admin/v1/flags", filters, page)
    }

    pub fn review_flag(&self, flag_id: &str, review: &ReviewRequest) -> Result<Value, CliError> {
        self.post(&format!("/admin/v1/flags/{}/review", path_segment(flag_id)), &body(review))
    }

    pub fn customers(&self, filters: &CustomerFilters, page: &PageParams) -> Result<Value, CliError> {
        self.list("/admin/v1/customers", filters, page)
    }

    pub fn customer(&self, email: &str) -> Result<Value, CliError> {
        self.get(&format!("/admin/v1/customers/{}", path_segment(email)))
    }

    pub fn add_customer(&self, email: &str, name: &str) -> Result<Value, CliError> {
        self.post("/admin/v1/customers", &serde_json::json!({ "email": email, "name": name }))
    }

    pub fn update_customer(&self, email: &str, patch: &CustomerPatch) -> Result<Value, CliError> {
        self.patch(&format!("/admin/v1/customers/{}", path_segment(email)), &body(patch))
    }

    pub fn create_release(&self, request: &NewReleaseRequest) -> Result<Value, CliError> {
        self.post("/admin/v1/releases", &body(request))
    }

    pub fn releases(&self, filters: &ReleaseFilters, page: &PageParams) -> Result<Value, CliError> {
        self.list("/admin/v1/releases", filters, page)
    }

    pub fn release(&self, id: &str) -> Result<Value, CliError> {
        self.get(&format!("/admin/v1/releases/{}", path_segment(id)))
    }

    pub fn publish_release(&self, id: &str) -> Result<Value, CliError> {
        self.post(&format!("/admin/v1/releases/{}/publish", path_segment(id)), &Value::Null)
    }

    pub fn yank_release(&self, id: &str) -> Result<Value, CliError> {
        self.post(&format!("/admin/v1/releases/{}/yank", path_segment(id)), &Value::Null)
    }

    /// Streams `body` (of `length` bytes) as the file `filename` of release `id`.
    pub fn upload_artifact(
        &self,
        id: &str,
        filename: &str,
        params: &UploadParams,
        body: reqwest::blocking::Body,
    ) -> Result<Value, CliError> {
        let path = format!("/admin/v1/releases/{}/artifacts/{}", path_segment(id), path_segment(filename));
        self.put_stream(&path, params, body)
    }
}

/// The committed admin spec, for the tests that hold the CLI to it.
#[cfg(test)]
pub mod admin_spec {
    use serde_json::Value;

    pub fn document() -> Value {
        serde_json::from_str(include_str!("../../../openapi/admin.json")).expect("openapi/admin.json is JSON")
    }

    /// The component schema a `$ref` (`#/components/schemas/Name`) or a bare name points at.
    pub fn schema<'a>(spec: &'a Value, reference: &Value) -> &'a Value {
        let name = reference.as_str().expect("a schema name").trim_start_matches("#/components/schemas/");
        let schema = &spec["components"]["schemas"][name];
        assert!(schema.is_object(), "no schema `{name}` in openapi/admin.json");
        schema
    }
}

#[cfg(test)]
mod tests {
    //! Every typed call, sent to a recorder, must be an operation of the
    //! committed admin spec with the query names and body fields it declares.

    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};

    use serde_json::{json, Value};

    use super::*;

    /// The names a typed answer reads, each a property of its schema; the
    /// ones it cannot do without, required there.
    fn assert_answer_fits(spec: &Value, schema: &str, answer: &Value, required: &[&str]) {
        let schema = admin_spec::schema(spec, &Value::from(schema));
        for name in answer.as_object().expect("an object").keys() {
            assert!(schema["properties"][name].is_object(), "the CLI reads `{name}`, which the spec does not have");
        }
        let declared: Vec<&str> =
            schema["required"].as_array().map_or(Vec::new(), |names| names.iter().filter_map(Value::as_str).collect());
        for name in required {
            assert!(declared.contains(name), "the CLI needs `{name}`, which the spec does not require");
        }
    }

    #[test]
    fn typed_answers_read_only_what_their_response_schemas_declare() {
        let spec = admin_spec::document();
        let minted = Minted {
            license: json!({}),
            token: "t".into(),
            delivery: Some(QueuedEmail { id: "d".into(), to: "a@b.c".into(), other: Map::new() }),
            delivery_error: Some("e".into()),
        };
        let minted = serde_json::to_value(&minted).unwrap();
        assert_answer_fits(&spec, "MintedLicenseBody", &minted, &["license", "token"]);
        assert_answer_fits(&spec, "DeliveryBody", &minted["delivery"], &["id", "to"]);
        let replayed = ReplayedEvent { status: "failed".into(), error: Some("e".into()), other: Map::new() };
        assert_answer_fits(&spec, "StorefrontEventBody", &serde_json::to_value(&replayed).unwrap(), &["status"]);
        let statuses = &admin_spec::schema(&spec, &Value::from("EventStatusDto"))["enum"];
        assert!(statuses.as_array().unwrap().contains(&Value::from("failed")), "the replay command tests for `failed`");
    }

    /// Operations the CLI deliberately has no command for.
    const NOT_IN_THE_CLI: [(&str, &str); 2] = [
        ("get", "/health"),                   // a probe for monitors, not for operators
        ("get", "/admin/v1/deliveries/{id}"), // `tessera deliveries --license` shows the same
    ];

    struct Recorded {
        method: String,
        path: String,
        query: Vec<String>,
        body: Option<Value>,
    }

    /// An HTTP server that answers `{}` to everything and records what it got.
    fn recorder() -> (String, Arc<Mutex<Vec<Recorded>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let mut stream = stream.unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let mut parts = line.split_whitespace();
                let method = parts.next().unwrap().to_lowercase();
                let target = parts.next().unwrap().to_owned();
                let mut length = 0;
                let mut json_body = false;
                loop {
                    let mut header = String::new();
                    reader.read_line(&mut header).unwrap();
                    if header.trim().is_empty() {
                        break;
                    }
                    if let Some((name, value)) = header.split_once(':') {
                        if name.eq_ignore_ascii_case("content-length") {
                            length = value.trim().parse().unwrap();
                        }
                        if name.eq_ignore_ascii_case("content-type") {
                            json_body = value.trim().starts_with("application/json");
                        }
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                let (path, query) = target.split_once('?').unwrap_or((&target, ""));
                log.lock().unwrap().push(Recorded {
                    method,
                    path: path.to_owned(),
                    query: query
                        .split('&')
                        .filter(|pair| !pair.is_empty())
                        .map(|pair| pair.split('=').next().unwrap().to_owned())
                        .collect(),
                    body: (length > 0).then(|| match json_body {
                        true => serde_json::from_slice(&body).unwrap(),
                        false => Value::String(BINARY.to_owned()),
                    }),
                });
                stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}")
                    .unwrap();
            }
        });
        (url, seen)
    }

    fn some(text: &str) -> Option<String> {
        Some(text.to_owned())
    }

    /// What the recorder keeps of a body that is not JSON (an uploaded file).
    const BINARY: &str = "<binary body>";

    /// The recorder answers `{}`, which a typed answer refuses after the
    /// request was sent and recorded.
    fn answered_untyped<T: std::fmt::Debug>(result: Result<T, CliError>) {
        let error = result.expect_err("`{}` is not a typed answer");
        assert!(matches!(error, CliError::Local(_)), "{error}");
    }

    /// Calls every method with every optional field and filter set.
    fn call_everything(client: &AdminClient) {
        let page = PageParams { limit: Some(10), cursor: some("c") };
        let mint = MintRequest {
            product: "demo".into(),
            tier: "pro".into(),
            name: "Ada".into(),
            email: "ada@example.com".into(),
            seats: Some(2),
            kind: some("fixed_term"),
            duration_days: Some(30),
            expires_at: some("2027-01-01T00:00:00Z"),
            key: some("KEY-00000001"),
            notes: some("n"),
            source: some("admin"),
            source_ref: some("r"),
            app_versions: Some(vec![2]),
            send_email: true,
        };
        answered_untyped(client.mint(&mint, Some("idem")));
        let licenses = LicenseFilters {
            email: some("e"),
            product: some("p"),
            status: some("active"),
            source: some("s"),
            q: some("q"),
        };
        client.licenses(&licenses, &page).unwrap();
        client.license("KEY-1").unwrap();
        client.revoke("KEY-1", "chargeback").unwrap();
        client.change("KEY-1", Lifecycle::Suspend).unwrap();
        client.change("KEY-1", Lifecycle::Reinstate).unwrap();
        client.renew("KEY-1", &RenewRequest { duration_days: Some(30), expires_at: None }).unwrap();
        client.redeliver("KEY-1").unwrap();
        // A record exactly as `tessera import` builds it from a log line, every field set.
        let line = json!({
            "license_key": "KEY-00000002", "name": "Ada", "email": "ada@example.com", "tier": "pro",
            "issued_at": "2026-01-01T00:00:00Z", "expires_at": "2027-01-01T00:00:00Z", "blob": "b", "product": "demo",
        });
        let record = import_record(1, &line.to_string()).unwrap();
        client.import_licenses(&ImportRequest { product: Some("demo"), dry_run: true, records: vec![record] }).unwrap();
        client.deactivate_machine("act-1").unwrap();
        client.storefront_events(&EventFilters { storefront: some("gumroad"), status: some("failed") }, &page).unwrap();
        answered_untyped(client.replay("evt-1"));
        client.deliveries(&DeliveryFilters { status: some("failed"), license_key: some("KEY-1") }, &page).unwrap();
        client.retry_delivery("del-1").unwrap();
        let audit = AuditFilters {
            entity_id: some("KEY-1"),
            since: some("2026-01-01T00:00:00Z"),
            actor: some("admin"),
            action: some("a"),
        };
        client.audit(&audit, &page).unwrap();
        client.stats().unwrap();
        client.keys().unwrap();
        client
            .usage(
                &UsageFilters { license_key: some("KEY-1"), event: some("e"), since: some("2026-01-01T00:00:00Z") },
                &page,
            )
            .unwrap();
        client.flags(&FlagFilters { status: some("open"), license_key: some("KEY-1") }, &page).unwrap();
        client.review_flag("flag-1", &ReviewRequest { status: "actioned".into(), action: some("revoked") }).unwrap();
        client.customers(&CustomerFilters { q: some("ada") }, &page).unwrap();
        client.customer("ada@example.com").unwrap();
        client.add_customer("ada@example.com", "Ada").unwrap();
        client
            .update_customer("ada@example.com", &CustomerPatch { email: some("b@example.com"), name: some("B") })
            .unwrap();
        let release = NewReleaseRequest {
            product: "demo".into(),
            version: "1.0.0".into(),
            channel: some("beta"),
            notes: some("n"),
        };
        client.create_release(&release).unwrap();
        let filters = ReleaseFilters { product: some("demo"), channel: some("beta"), status: some("draft") };
        client.releases(&filters, &page).unwrap();
        client.release("rel-1").unwrap();
        client.publish_release("rel-1").unwrap();
        client.yank_release("rel-1").unwrap();
        let upload = UploadParams { platform: some("macos"), arch: some("aarch64"), updater_signature: some("sig") };
        client
            .upload_artifact("rel-1", "App 1.0.dmg", &upload, reqwest::blocking::Body::from(vec![1u8, 2, 3]))
            .unwrap();
    }

    fn matches(template: &str, path: &str) -> bool {
        let (template, path): (Vec<_>, Vec<_>) = (template.split('/').collect(), path.split('/').collect());
        template.len() == path.len()
            && template.iter().zip(&path).all(|(want, got)| want.starts_with('{') || want == got)
    }

    /// `value`'s fields are the schema's, its required ones present; arrays of
    /// objects are checked against their item schema.
    fn conforms(spec: &Value, schema: &Value, value: &Value, at: &str) {
        let fields = value.as_object().unwrap_or_else(|| panic!("{at}: not an object"));
        for (field, field_value) in fields {
            let property = schema["properties"]
                .get(field)
                .unwrap_or_else(|| panic!("{at}: `{field}` is not a field of {}", schema["title"]));
            if let (Some(items), Some(reference)) = (field_value.as_array(), property["items"].get("$ref")) {
                let item_schema = admin_spec::schema(spec, reference);
                for item in items {
                    conforms(spec, item_schema, item, &format!("{at} {field}[]"));
                }
            }
        }
        for required in schema["required"].as_array().into_iter().flatten() {
            assert!(fields.contains_key(required.as_str().unwrap()), "{at}: `{required}` missing");
        }
    }

    #[test]
    fn every_call_is_an_operation_of_the_admin_spec() {
        let spec = admin_spec::document();
        let (url, seen) = recorder();
        call_everything(&AdminClient::new(&url, some("token"), None).unwrap());

        let mut covered = Vec::new();
        for call in seen.lock().unwrap().iter() {
            let (template, operations) = spec["paths"]
                .as_object()
                .unwrap()
                .iter()
                .find(|(template, operations)| matches(template, &call.path) && operations.get(&call.method).is_some())
                .unwrap_or_else(|| panic!("{} {} is not in openapi/admin.json", call.method, call.path));
            let operation = &operations[&call.method];
            covered.push((call.method.clone(), template.clone()));

            let parameters: Vec<&str> = operation["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|parameter| parameter["in"] == "query")
                .map(|parameter| parameter["name"].as_str().unwrap())
                .collect();
            for name in &call.query {
                assert!(parameters.contains(&name.as_str()), "{} {template}: no query parameter `{name}`", call.method);
            }

            let declared = operation["requestBody"]["content"].as_object().and_then(|content| content.iter().next());
            match (declared, &call.body) {
                (None, None) => {}
                (Some((kind, _)), Some(body)) if !kind.starts_with("application/json") => {
                    assert_eq!(body, &Value::from(BINARY), "{} {template} takes raw bytes", call.method)
                }
                (Some((_, content)), Some(body)) => conforms(
                    &spec,
                    admin_spec::schema(&spec, &content["schema"]["$ref"]),
                    body,
                    &format!("{} {template}", call.method),
                ),
                (None, Some(_)) => panic!("{} {template} takes no body, the CLI sends one", call.method),
                (Some(_), None) if operation["requestBody"]["required"] == true => {
                    panic!("{} {template} needs a body, the CLI sends none", call.method)
                }
                (Some(_), None) => {}
            }
        }

        for (template, operations) in spec["paths"].as_object().unwrap() {
            for method in operations.as_object().unwrap().keys() {
                let listed = NOT_IN_THE_CLI.contains(&(method.as_str(), template.as_str()));
                let called = covered.contains(&(method.clone(), template.clone()));
                assert!(
                    called != listed,
                    "{method} {template}: {}",
                    if listed { "called, yet listed as not in the CLI" } else { "no CLI call" }
                );
            }
        }
    }
}
