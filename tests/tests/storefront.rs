//! A Gumroad sale on the real server: configured in `tessera.toml`, delivered
//! over HTTP, seen and replayed with the CLI.

use serde_json::Value;
use tessera_blackbox::{assert_exit, cli, stdout_of, RunningServer};

const SECRET: &str = "blackbox-gumroad-secret";

fn sale_ping(product_id: &str, sale_id: &str) -> String {
    tessera_blackbox::gumroad_ping(&[("product_id", product_id), ("sale_id", sale_id)])
}

#[test]
fn a_gumroad_sale_becomes_a_license_and_failures_can_be_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    std::fs::write(
        dir.join("tessera.toml"),
        format!(
            "[storefronts.gumroad]\nsecret = \"{SECRET}\"\n[storefronts.gumroad.products.\"32-nPAicqbLj8B_WswVlMw==\"]\nproduct = \"demo\"\ntier = \"standard\"\nvariant_tiers = {{ Pro = \"pro\" }}\n"
        ),
    )
    .unwrap();
    let server = RunningServer::start(dir);
    let http = reqwest::blocking::Client::new();
    let deliver = |secret: &str, body: String| {
        let response = http
            .post(format!("{}/webhooks/gumroad?secret={secret}", server.public_url))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .unwrap();
        (response.status().as_u16(), response.json::<Value>().unwrap_or(Value::Null))
    };

    let (status, receipt) = deliver(SECRET, sale_ping("32-nPAicqbLj8B_WswVlMw==", "sale-1"));
    assert_eq!((status, receipt["status"].as_str()), (200, Some("processed")), "{receipt}");
    assert_eq!(deliver(SECRET, sale_ping("32-nPAicqbLj8B_WswVlMw==", "sale-1")).1["status"], "duplicate");
    assert_eq!(deliver("wrong", sale_ping("32-nPAicqbLj8B_WswVlMw==", "sale-2")).0, 401);

    // The development mailer writes the email as an .eml file under ./tessera-mail.
    let key = receipt["license_key"].as_str().unwrap().to_owned();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let eml = loop {
        let written: Vec<_> = std::fs::read_dir(dir.join("tessera-mail"))
            .map(|entries| entries.filter_map(Result::ok).map(|entry| entry.path()).collect())
            .unwrap_or_default();
        if let Some(path) = written.iter().find(|path| path.extension().is_some_and(|ext| ext == "eml")) {
            break std::fs::read_to_string(path).unwrap();
        }
        assert!(std::time::Instant::now() < deadline, "no email written under ./tessera-mail");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(eml.contains("Subject: Your Demo App license") && eml.contains(&format!("filename=\"{key}.lic\"")));

    let listed = cli(dir, &server.admin_url, &["--json", "list", "--source", "gumroad"]);
    assert_exit(&listed, 0);
    let licenses: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(licenses["items"].as_array().unwrap().len(), 1);
    assert_eq!(licenses["items"][0]["tier"], "pro", "variants[Tier]=Pro → pro");
    assert_eq!(licenses["items"][0]["source_ref"], "sale-1");

    let (_, unmapped) = deliver(SECRET, sale_ping("unknown-product", "sale-3"));
    assert_eq!(unmapped["status"], "failed");
    let failed = cli(dir, &server.admin_url, &["events", "--failed"]);
    assert_exit(&failed, 0);
    assert!(stdout_of(&failed).contains("1 shown"), "{}", stdout_of(&failed));
    let event_id = unmapped["event_id"].as_str().unwrap();
    let replayed = cli(dir, &server.admin_url, &["--json", "replay", event_id]);
    assert_exit(&replayed, 1);
    assert!(tessera_blackbox::stderr_of(&replayed).contains("still fails"), "exit 1 when the event still fails");
    let replayed: Value = serde_json::from_slice(&replayed.stdout).unwrap();
    assert_eq!((replayed["status"].as_str(), replayed["attempts"].as_u64()), (Some("failed"), Some(2)));
    assert!(replayed["error"].as_str().unwrap().contains("no product mapping"));
    let all = cli(dir, &server.admin_url, &["--json", "events"]);
    assert_eq!(serde_json::from_slice::<Value>(&all.stdout).unwrap()["items"].as_array().unwrap().len(), 3);
}

/// Gumroad's subscription pings name no seller: with `seller_id` configured
/// (as the README recommends) they are still accepted, and each does its job
/// on the real server: upgrade → new tier, cancellation → no renewal, end →
/// expired; nothing is left failed.
#[test]
fn a_gumroad_membership_follows_its_subscription_pings_with_seller_id_configured() {
    const SELLER: &str = "kL0psVL2admJSYRNs-OCMg==";
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    std::fs::write(
        dir.join("tessera.toml"),
        format!(
            "[storefronts.gumroad]\nsecret = \"{SECRET}\"\nseller_id = \"{SELLER}\"\n\
             [storefronts.gumroad.products.\"32-nPAicqbLj8B_WswVlMw==\"]\nproduct = \"demo\"\ntier = \"standard\"\n\
             variant_tiers = {{ Standard = \"standard\", Pro = \"pro\" }}\n"
        ),
    )
    .unwrap();
    let server = RunningServer::start(dir);
    let http = reqwest::blocking::Client::new();
    let deliver = |body: String| {
        let response = http
            .post(format!("{}/webhooks/gumroad?secret={SECRET}", server.public_url))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .unwrap();
        (response.status().as_u16(), response.json::<Value>().unwrap_or(Value::Null))
    };
    // Subscription::PingNotification's fields; no seller_id.
    let subscription_ping = |resource_name: &str, extra: &[(&str, &str)]| {
        let mut form = form_urlencoded::Serializer::new(String::new());
        let common = [
            ("subscription_id", "sub-bb-1"),
            ("product_id", "32-nPAicqbLj8B_WswVlMw=="),
            ("product_name", "Pencil Pro"),
            ("user_id", "3523953790232"),
            ("user_email", "customer@example.com"),
            ("purchase_ids[]", "sale-m1"),
            ("created_at", "2026-11-01T10:00:00.000Z"),
            ("charge_occurrence_count", ""),
            ("recurrence", "monthly"),
            ("free_trial_ends_at", ""),
            ("resource_name", resource_name),
        ];
        for (key, value) in common.iter().chain(extra) {
            form.append_pair(key, value);
        }
        form.finish()
    };
    let show = |key: &str| -> Value {
        let shown = cli(dir, &server.admin_url, &["--json", "show", key]);
        assert_exit(&shown, 0);
        serde_json::from_slice(&shown.stdout).unwrap()
    };

    let sale = tessera_blackbox::gumroad_ping(&[("sale_id", "sale-m1"), ("variants[Tier]", "Standard")]);
    let (status, sold) = deliver(format!("{sale}&subscription_id=sub-bb-1&recurrence=monthly"));
    assert_eq!((status, sold["status"].as_str()), (200, Some("processed")), "{sold}");
    let key = sold["license_key"].as_str().unwrap().to_owned();
    assert_eq!(show(&key)["kind"], "subscription");

    let (status, upgraded) = deliver(subscription_ping(
        "subscription_updated",
        &[
            ("type", "upgrade"),
            ("effective_as_of", "2026-11-02T10:00:00.000Z"),
            ("old_plan[tier][name]", "Standard"),
            ("new_plan[tier][name]", "Pro"),
            ("new_plan[recurrence]", "monthly"),
        ],
    ));
    assert_eq!((status, upgraded["status"].as_str()), (200, Some("processed")), "{upgraded}");
    assert_eq!(show(&key)["tier"], "pro");

    let (status, cancelled) = deliver(subscription_ping(
        "cancellation",
        &[("cancelled", "true"), ("cancelled_at", "2026-11-03T10:00:00.000Z"), ("cancelled_by_buyer", "true")],
    ));
    assert_eq!((status, cancelled["status"].as_str()), (200, Some("processed")), "{cancelled}");

    let (status, ended) = deliver(subscription_ping(
        "subscription_ended",
        &[("ended_at", "2026-11-04T10:00:00.000Z"), ("ended_reason", "cancelled")],
    ));
    assert_eq!((status, ended["status"].as_str()), (200, Some("processed")), "{ended}");
    let license = show(&key).clone();
    assert_eq!(
        (license["status"].as_str(), license["expires_at"].as_str()),
        (Some("expired"), Some("2026-11-04T10:00:00Z"))
    );

    // Another seller's ping is still refused, and nothing of it is stored.
    let stranger = tessera_blackbox::gumroad_ping(&[("sale_id", "sale-x"), ("seller_id", "someone-else")]);
    assert_eq!(deliver(stranger).0, 401);
    let failed = cli(dir, &server.admin_url, &["--json", "events", "--failed"]);
    assert_eq!(serde_json::from_slice::<Value>(&failed.stdout).unwrap()["items"], serde_json::json!([]));
    let all = cli(dir, &server.admin_url, &["--json", "events"]);
    assert_eq!(serde_json::from_slice::<Value>(&all.stdout).unwrap()["items"].as_array().unwrap().len(), 4);
}
