//! The buyers' portal in a real headless Chromium, driven over WebDriver
//! (chromedriver), against the real server: ask for the email, open the link
//! from the `log` mailer's `.eml`, see the licenses and machines, deactivate a
//! machine and see it gone. Screenshots go to `<target>/test-artifacts/portal/`.
//!
//! Needs Debian's `chromium` and `chromium-driver`, so it is `#[ignore]`d: run
//! it with `cargo test --workspace -- --include-ignored` (CI does).
//!

mod browser;

use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine;
use browser::{free_port, Browser};
use serde_json::{json, Value};
use tessera_blackbox::RunningServer;

/// The text part of the newest `.eml` the `log` mailer wrote to `dir`.
fn newest_email_text(dir: &Path, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let newest = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "eml"))
            .max();
        if let Some(path) = newest {
            let eml = std::fs::read_to_string(path).unwrap();
            let part = eml.split("Content-Type: text/plain").nth(1).expect("a text part");
            let encoded: String =
                part.split("\r\n\r\n").nth(1).unwrap().lines().take_while(|line| !line.starts_with("--")).collect();
            let bytes = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).unwrap();
            return String::from_utf8(bytes).unwrap();
        }
        assert!(Instant::now() < deadline, "no email in {}", dir.display());
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
#[ignore = "needs chromium and chromedriver (apt-get install chromium chromium-driver); run with --include-ignored (CI does)"]
fn a_buyer_gets_the_link_by_email_and_frees_a_machine_in_a_real_browser() {
    let browser = Browser::start("portal");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}");
    let server = RunningServer::start_with(
        dir.path(),
        &[("TESSERA_SERVER__PUBLIC_ADDR", &format!("127.0.0.1:{port}")), ("TESSERA_SERVER__BASE_URL", &public)],
    );
    let admin_token = std::fs::read_to_string(dir.path().join("tessera-admin-token")).unwrap();
    let http = reqwest::blocking::Client::new();
    let minted: Value = http
        .post(format!("{}/admin/v1/licenses", server.admin_url))
        .bearer_auth(admin_token.trim())
        .json(&json!({"product": "demo", "tier": "standard", "name": "Ada", "email": "ada@example.com"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let key = minted["license"]["key"].as_str().expect("minted").to_owned();
    for (fingerprint, name) in [("fp-studio-0001", "Studio iMac"), ("fp-laptop-0002", "Travel laptop")] {
        let body =
            json!({"license_key": key, "fingerprint": fingerprint, "platform": "macos-arm64", "machine_name": name});
        let status = http.post(format!("{public}/v1/activate")).json(&body).send().unwrap().status();
        assert_eq!(status, 200);
    }

    // 1. Ask for the email.
    browser.goto(&format!("{public}/portal"));
    assert!(browser.text().contains("Email me my licenses"));
    browser.screenshot("1-request-form");
    browser.click("label[for=email]");
    assert_eq!(browser.focused_id(), "email", "the label focuses its input");
    browser.type_into("#email", "ada@example.com");
    browser.click("button[type=submit]");
    let answer = browser.text_once("Check your inbox");
    assert!(answer.contains("Check your inbox") && answer.contains("If that address has licenses"), "{answer}");
    browser.screenshot("2-check-your-inbox");

    // 2. Open the link from the log mailer's email.
    let email = newest_email_text(&dir.path().join("tessera-mail"), Duration::from_secs(20));
    assert!(email.contains(&key), "{email}");
    let link =
        email.split_whitespace().find(|word| word.starts_with(&format!("{public}/portal/licenses?token="))).unwrap();
    browser.goto(link);
    let page = browser.text();
    for expected in [key.as_str(), "Studio iMac", "Travel laptop", "macos-arm64", "2 of 3"] {
        assert!(page.contains(expected), "the page shows {expected}:\n{page}");
    }
    browser.screenshot("3-licenses");
    browser.resize(390, 844);
    browser.screenshot("3b-licenses-phone");
    browser.resize(1200, 1000);

    // 3. Deactivate the laptop; it is gone and its seat is free.
    browser.click(r#"button[aria-label="Deactivate Travel laptop"]"#);
    let after = browser.text_once("The machine was deactivated");
    assert!(after.contains("The machine was deactivated"), "{after}");
    assert!(!after.contains("Travel laptop") && after.contains("Studio iMac") && after.contains("1 of 3"), "{after}");
    browser.screenshot("4-machine-deactivated");
    let license: Value = http
        .get(format!("{}/admin/v1/licenses/{key}", server.admin_url))
        .bearer_auth(admin_token.trim())
        .send()
        .unwrap()
        .json()
        .unwrap();
    let machines = license["activations"].as_array().expect("machines");
    assert_eq!(machines.len(), 1, "{license}");
    assert_eq!(machines[0]["machine_name"], "Studio iMac");

    // 4. A changed link is refused with a clear page.
    let tampered = link.replace("token=ey", "token=eX");
    browser.goto(&tampered);
    assert!(browser.text().contains("This link is not valid"));
    browser.screenshot("5-tampered-link");
    eprintln!("portal screenshots in {}", browser.artifacts().display());
}
