//! Human-readable tables and JSON for scripts. Tables read the server's
//! answers by field name; every name they read is declared here with the
//! admin spec's schema it comes from, and a test holds them to that schema.

use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use serde_json::Value;

pub fn print_json(value: &Value) {
    println!("{}", serde_json::to_string_pretty(value).expect("JSON values serialize"));
}

pub fn text(value: &Value) -> String {
    match value {
        Value::Null => "—".into(),
        Value::String(text) => text.clone(),
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// Fields of one schema of `openapi/admin.json` that a table shows.
pub struct Fields {
    #[cfg_attr(not(test), expect(dead_code, reason = "read by the test that checks the names against the spec"))]
    pub schema: &'static str,
    pub names: &'static [&'static str],
}

/// One license, a row per field.
pub const LICENSE: Fields = Fields {
    schema: "LicenseBody",
    names: &[
        "key",
        "status",
        "product",
        "tier",
        "kind",
        "seats",
        "features",
        "name",
        "email",
        "issued_at",
        "expires_at",
        "source",
        "source_ref",
        "notes",
        "revoke_reason",
        "id",
    ],
};
pub const LICENSES: Fields =
    Fields { schema: "LicenseBody", names: &["key", "status", "product", "tier", "seats", "email", "expires_at"] };
pub const MACHINES: Fields = Fields {
    schema: "ActivationBody",
    names: &[
        "id",
        "machine_name",
        "fingerprint",
        "platform",
        "app_version",
        "activated_at",
        "last_seen_at",
        "deactivated_at",
    ],
};
pub const EVENTS: Fields = Fields {
    schema: "StorefrontEventBody",
    names: &["id", "received_at", "storefront", "kind", "status", "license_key", "attempts", "error"],
};
pub const DELIVERIES: Fields = Fields {
    schema: "DeliveryBody",
    names: &["id", "created_at", "kind", "license_key", "to", "status", "attempts", "next_attempt_at", "last_error"],
};
pub const FLAGS: Fields =
    Fields { schema: "FlagBody", names: &["id", "created_at", "license_key", "reason", "status", "message", "action"] };
pub const CUSTOMERS: Fields =
    Fields { schema: "CustomerBody", names: &["email", "name", "license_count", "created_at", "updated_at"] };
pub const AUDIT: Fields =
    Fields { schema: "AuditEventBody", names: &["at", "actor", "action", "entity_type", "entity_id", "details"] };
pub const USAGE: Fields =
    Fields { schema: "UsageEventBody", names: &["at", "license_key", "event", "metadata", "activation_id"] };
pub const KEYS: Fields = Fields { schema: "KeyBody", names: &["kid", "status", "alg", "public_key"] };
pub const RELEASES: Fields = Fields {
    schema: "ReleaseBody",
    names: &["id", "product", "version", "channel", "status", "created_at", "published_at"],
};
pub const ARTIFACTS: Fields =
    Fields { schema: "ArtifactBody", names: &["id", "filename", "platform", "arch", "size", "sha256", "downloads"] };

/// The stats table's rows below the license counts: a label and the path of
/// its value in `StatsBody`.
const STATS_ROWS: [(&str, &[&str]); 8] = [
    ("machines holding a seat", &["active_machines"]),
    ("emails waiting", &["deliveries", "pending"]),
    ("emails failed", &["deliveries", "failed"]),
    ("emails sent", &["deliveries", "sent"]),
    ("storefront events failed", &["storefront_events", "failed"]),
    ("storefront events unprocessed", &["storefront_events", "unprocessed"]),
    ("minted in the last 24 h", &["minted", "last_24h"]),
    ("minted in the last 30 days", &["minted", "last_30d"]),
];
/// The license count groups of `StatsBody.licenses` (`LicenseStatsBody`).
const STATS_GROUPS: [&str; 4] = ["by_status", "by_product", "by_tier", "by_source"];

pub fn print_license(license: &Value) {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    for field in LICENSE.names {
        if let Some(value) = license.get(*field) {
            table.add_row(vec![(*field).to_owned(), text(value)]);
        }
    }
    println!("{table}");
}

/// A list page as a table of `columns`, and how to get the next page.
pub fn print_page(page: &Value, columns: &Fields) {
    let columns = columns.names;
    let items = page["items"].as_array().cloned().unwrap_or_default();
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header(columns);
    for item in &items {
        table.add_row(columns.iter().map(|field| text(&item[*field])).collect::<Vec<_>>());
    }
    println!("{table}");
    match page["next_cursor"].as_str() {
        Some(cursor) => println!("{} shown; more with --cursor {cursor}", items.len()),
        None => println!("{} shown", items.len()),
    }
}

pub fn print_license_table(page: &Value) {
    print_page(page, &LICENSES);
}

pub fn print_machines(machines: &[Value]) {
    let columns = MACHINES.names;
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header(columns);
    for machine in machines {
        table.add_row(columns.iter().map(|field| text(&machine[*field])).collect::<Vec<_>>());
    }
    println!("{table}");
}

pub fn print_events(page: &Value) {
    print_page(page, &EVENTS);
}

pub fn print_deliveries(page: &Value) {
    print_page(page, &DELIVERIES);
}

pub fn print_stats(stats: &Value) {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header(["", "count"]);
    let licenses = &stats["licenses"];
    table.add_row(vec!["licenses".to_owned(), text(&licenses["total"])]);
    for group in STATS_GROUPS {
        if let Some(counts) = licenses[group].as_object() {
            for (name, count) in counts {
                table.add_row(vec![format!("  {} {name}", group.trim_start_matches("by_")), text(count)]);
            }
        }
    }
    for (label, path) in STATS_ROWS {
        let value = path.iter().fold(stats, |value, field| &value[*field]);
        table.add_row(vec![label.to_owned(), text(value)]);
    }
    println!("{table}");
}

pub fn print_flags(page: &Value) {
    print_page(page, &FLAGS);
}

pub fn print_customers(page: &Value) {
    print_page(page, &CUSTOMERS);
}

pub fn print_releases(page: &Value) {
    print_page(page, &RELEASES);
}

/// One release: its fields, then a table of its files.
pub fn print_release(release: &Value) {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    for field in RELEASES.names {
        table.add_row(vec![(*field).to_owned(), text(&release[*field])]);
    }
    println!("{table}");
    let files = release["artifacts"].as_array().cloned().unwrap_or_default();
    if !files.is_empty() {
        print_artifacts(&files);
    }
}

pub fn print_artifacts(files: &[Value]) {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header(ARTIFACTS.names);
    for file in files {
        table.add_row(ARTIFACTS.names.iter().map(|field| text(&file[*field])).collect::<Vec<_>>());
    }
    println!("{table}");
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::admin_api::admin_spec;

    fn property<'a>(spec: &'a Value, schema: &str, field: &str) -> &'a Value {
        let property = &admin_spec::schema(spec, &Value::from(schema))["properties"][field];
        assert!(property.is_object(), "the tables read `{field}`, which {schema} does not have");
        property
    }

    #[test]
    fn every_field_a_table_reads_is_in_the_admin_spec() {
        let spec = admin_spec::document();
        for fields in [
            &LICENSE,
            &LICENSES,
            &MACHINES,
            &EVENTS,
            &DELIVERIES,
            &FLAGS,
            &CUSTOMERS,
            &AUDIT,
            &USAGE,
            &KEYS,
            &RELEASES,
            &ARTIFACTS,
        ] {
            for name in fields.names {
                property(&spec, fields.schema, name);
            }
        }
        let licenses = property(&spec, "StatsBody", "licenses");
        for group in STATS_GROUPS {
            property(&spec, licenses["$ref"].as_str().unwrap(), group);
        }
        property(&spec, "ReleaseBody", "artifacts");
        for (_, path) in STATS_ROWS {
            let mut schema = "StatsBody".to_owned();
            for field in path {
                let value = property(&spec, &schema, field);
                if let Some(reference) = value["$ref"].as_str() {
                    schema = reference.to_owned();
                }
            }
        }
    }
}
