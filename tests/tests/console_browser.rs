//! The operator's console in a real headless Chromium against the real
//! server, over a database filled by `tessera-server demo-data`: sign in,
//! read the dashboard, mint, find the license, free a machine, revoke with a
//! reason, replay a failed storefront event, retry a failed delivery, sign
//! out. A screenshot of each page goes to `<target>/test-artifacts/console/`.
//!
//! Needs Debian's `chromium` and `chromium-driver`, so it is `#[ignore]`d: run
//! it with `cargo test --workspace -- --include-ignored` (CI does).

mod browser;

use browser::Browser;
use serde_json::{json, Value};
use tessera_blackbox::{server_command, stdout_of, RunningServer};

#[test]
#[ignore = "needs chromium and chromedriver (apt-get install chromium chromium-driver); run with --include-ignored (CI does)"]
fn the_operator_works_through_the_console_in_a_real_browser() {
    let dir = tempfile::tempdir().unwrap();
    // The demo's failed Gumroad sale failed for want of a product mapping; this
    // server has one, so the replay mints.
    let config = "[storefronts.gumroad]\nsecret = \"gumroad-secret-of-this-test\"\n\
                  [storefronts.gumroad.products.\"32-nPAicqbLj8B_WswVlMw==\"]\nproduct = \"demo\"\ntier = \"standard\"\n";
    std::fs::write(dir.path().join("tessera.toml"), config).unwrap();
    let seeded = server_command(dir.path()).args(["demo-data", "--days", "60"]).output().unwrap();
    assert!(seeded.status.success(), "demo-data: {seeded:?}");
    assert!(stdout_of(&seeded).contains("1 failed storefront events"), "{}", stdout_of(&seeded));
    let server = RunningServer::start(dir.path());
    let token = std::fs::read_to_string(dir.path().join("tessera-admin-token")).unwrap();
    let console = format!("{}/console", server.admin_url);
    let browser = Browser::start("console");

    // 1. Sign in: a wrong token first.
    browser.goto(&console);
    browser.text_once("Sign in with the admin token");
    browser.type_into("#token", "not-the-token");
    browser.click("button[type=submit]");
    browser.text_once("That is not the admin token.");
    browser.screenshot("1-sign-in-refused");
    browser.type_into("#token", token.trim());
    browser.click("button[type=submit]");
    let dashboard = browser.text_once("Needs attention");
    for expected in
        ["1 failed storefront events", "2 failed deliveries", "1 open usage flags", "Sales:", "Machines activated:"]
    {
        assert!(dashboard.contains(expected), "the dashboard shows {expected:?}:\n{dashboard}");
    }
    browser.screenshot("2-dashboard");
    browser.resize(390, 844);
    browser.screenshot("2b-dashboard-phone");
    browser.resize(1280, 1000);

    // 2. Mint a license for a new buyer.
    browser.goto(&format!("{console}/licenses/new"));
    browser.text_once("Product and tier");
    browser.type_into("#name", "Katherine Johnson");
    browser.type_into("#email", "katherine@example.com");
    browser.screenshot("3-mint-form");
    browser.click("form.card button[type=submit]");
    browser.text_once("Minted; the license email is queued.");
    let url = browser.current_url();
    let key = url
        .split("/console/licenses/")
        .nth(1)
        .and_then(|rest| rest.split('?').next())
        .expect("a license page")
        .to_owned();
    assert!(browser.text().contains(&key), "the page shows its key");
    browser.screenshot("4-minted");

    // The buyer's app activates a machine.
    let activate = json!({"license_key": key, "fingerprint": "katherine-mac-0001", "platform": "macos-arm64",
                          "machine_name": "Katherine's MacBook"});
    let http = reqwest::blocking::Client::new();
    let status = http.post(format!("{}/v1/activate", server.public_url)).json(&activate).send().unwrap().status();
    assert_eq!(status, 200);

    // 3. Find it by email and open it.
    browser.goto(&format!("{console}/licenses"));
    browser.type_into("#q", "katherine@");
    browser.click("form.search button[type=submit]");
    let found = browser.text_once(&key);
    assert!(found.contains("Katherine Johnson"), "{found}");
    browser.screenshot("5-search");
    browser.click("#licenses a");
    let page = browser.text_once("Katherine's MacBook");
    assert!(page.contains("Seats\n1 of ") || page.contains("Seats 1 of "), "one seat in use:\n{page}");
    browser.screenshot("6-license");

    // 4. Free the machine's seat.
    browser.click(r#"button[aria-label="Free the seat of Katherine's MacBook"]"#);
    let freed = browser.text_once("The machine is deactivated; its seat is free.");
    assert!(!freed.contains("Katherine's MacBook"), "the machine is gone:\n{freed}");

    // 5. Revoke it with a reason.
    browser.type_into("#reason", "refunded by email");
    browser.click(r#"form[action$="/revoke"] button"#);
    let revoked = browser.text_once("Revoked. Apps stop at their next check.");
    assert!(revoked.contains("refunded by email") && revoked.contains("license.revoked"), "{revoked}");
    browser.screenshot("7-revoked");
    let stored: Value = http
        .get(format!("{}/admin/v1/licenses/{key}", server.admin_url))
        .bearer_auth(token.trim())
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(stored["status"], "revoked", "{stored}");
    assert!(stored["activations"].as_array().unwrap().is_empty(), "{stored}");

    // 6. Replay the failed storefront event.
    browser.goto(&format!("{console}/events?status=failed"));
    browser.text_once("no product mapping");
    browser.screenshot("8-failed-events");
    browser.click("#events a");
    browser.text_once("Replay this event");
    browser.screenshot("9-event");
    browser.click("form[action$='/replay'] button");
    let replayed = browser.text_once("Replayed;");
    assert!(replayed.contains("processed"), "the replay minted:\n{replayed}");
    browser.screenshot("9b-replayed");
    let events: Value = http
        .get(format!("{}/admin/v1/storefront-events?status=processed", server.admin_url))
        .bearer_auth(token.trim())
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(events["items"][0]["attempts"], 2, "processed on the second attempt: {events}");
    assert!(events["items"][0]["license_key"].is_string(), "{events}");

    // 7. Retry a failed delivery.
    browser.goto(&format!("{console}/deliveries?status=failed"));
    browser.text_once("inbox does not exist");
    browser.screenshot("10-failed-deliveries");
    browser.click(".deliveries button");
    browser.text_once("Queued again; the outbox sends it shortly.");
    browser.screenshot("11-retried");

    // 8. The audit trail shows the operator's actions; then sign out.
    browser.goto(&format!("{console}/audit?actor=admin"));
    let audit = browser.text_once("license.revoked");
    for action in ["console.signed_in", "license.minted", "license.revoked", "delivery.retried"] {
        assert!(audit.contains(action), "{action} in the operator's trail:\n{audit}");
    }
    browser.screenshot("12-audit");
    browser.click(".sign-out button");
    browser.text_once("Sign in with the admin token");
    browser.goto(&console);
    browser.text_once("Sign in with the admin token");
    browser.screenshot("13-signed-out");
    eprintln!("console screenshots in {}", browser.artifacts().display());
}
