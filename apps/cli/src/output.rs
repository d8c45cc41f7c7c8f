//! Human-readable tables and JSON for scripts.

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

pub fn print_license(license: &Value) {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    for field in [
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
    ] {
        if let Some(value) = license.get(field) {
            table.add_row(vec![field.to_owned(), text(value)]);
        }
    }
    println!("{table}");
}

/// A list page as a table of `columns`, and how to get the next page.
pub fn print_page(page: &Value, columns: &[&str]) {
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
    print_page(page, &["key", "status", "product", "tier", "seats", "email", "expires_at"]);
}

pub fn print_machines(machines: &[Value]) {
    let columns = [
        "id",
        "machine_name",
        "fingerprint",
        "platform",
        "app_version",
        "activated_at",
        "last_seen_at",
        "deactivated_at",
    ];
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header(columns);
    for machine in machines {
        table.add_row(columns.map(|field| text(&machine[field])));
    }
    println!("{table}");
}

pub fn print_events(page: &Value) {
    print_page(page, &["id", "received_at", "storefront", "kind", "status", "license_key", "attempts", "error"]);
}

pub fn print_deliveries(page: &Value) {
    print_page(
        page,
        &["id", "created_at", "kind", "license_key", "to", "status", "attempts", "next_attempt_at", "last_error"],
    );
}

pub fn print_stats(stats: &Value) {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header(["", "count"]);
    let licenses = &stats["licenses"];
    table.add_row(vec!["licenses".to_owned(), text(&licenses["total"])]);
    for group in ["by_status", "by_product", "by_tier", "by_source"] {
        if let Some(counts) = licenses[group].as_object() {
            for (name, count) in counts {
                table.add_row(vec![format!("  {} {name}", group.trim_start_matches("by_")), text(count)]);
            }
        }
    }
    for (label, value) in [
        ("machines holding a seat", &stats["active_machines"]),
        ("emails waiting", &stats["deliveries"]["pending"]),
        ("emails failed", &stats["deliveries"]["failed"]),
        ("emails sent", &stats["deliveries"]["sent"]),
        ("storefront events failed", &stats["storefront_events"]["failed"]),
        ("storefront events unprocessed", &stats["storefront_events"]["unprocessed"]),
        ("minted in the last 24 h", &stats["minted"]["last_24h"]),
        ("minted in the last 30 days", &stats["minted"]["last_30d"]),
    ] {
        table.add_row(vec![label.to_owned(), text(value)]);
    }
    println!("{table}");
}

pub fn print_flags(page: &Value) {
    print_page(page, &["id", "created_at", "license_key", "reason", "status", "message", "action"]);
}

pub fn print_customers(page: &Value) {
    print_page(page, &["email", "name", "license_count", "created_at", "updated_at"]);
}
