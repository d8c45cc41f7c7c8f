//! The buyers' portal in a real headless Chromium, driven over WebDriver
//! (chromedriver), against the real server: ask for the email, open the link
//! from the `log` mailer's `.eml`, see the licenses and machines, deactivate a
//! machine and see it gone. Screenshots go to `<target>/test-artifacts/portal/`.
//!
//! Needs Debian's `chromium` and `chromium-driver`, so it is `#[ignore]`d: run
//! it with `cargo test --workspace -- --include-ignored` (CI does).
//!
//! The WebDriver calls are a few lines of JSON over the `reqwest` the tests
//! already use: the WebDriver client crates pull a second TLS stack (aws-lc)
//! into the build for a protocol spoken here over plain loopback HTTP.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};
use tessera_blackbox::RunningServer;

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|dir| Path::new(dir).join(program)).find(|path| path.is_file())
}

/// A headless Chromium session behind a chromedriver process.
struct Browser {
    driver: Child,
    base: String,
    http: reqwest::blocking::Client,
}

impl Browser {
    fn start() -> Self {
        let (Some(chromium), Some(chromedriver)) = (which("chromium"), which("chromedriver")) else {
            panic!("chromium and chromedriver are not installed (apt-get install chromium chromium-driver)");
        };
        let port = free_port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        let mut browser = Self { driver, base: format!("http://127.0.0.1:{port}"), http };
        let deadline = Instant::now() + Duration::from_secs(20);
        while browser.http.get(format!("{}/status", browser.base)).send().map_or(true, |r| !r.status().is_success()) {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = tempfile::tempdir().unwrap().keep();
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                         "--window-size=1200,1000", format!("--user-data-dir={}", profile.display())],
            },
        }}});
        let session = browser.call("POST", "/session", Some(capabilities));
        let id = session["sessionId"].as_str().expect("a session").to_owned();
        browser.base = format!("{}/session/{id}", browser.base);
        browser
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base);
        let request = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body.unwrap_or_else(|| json!({}))),
        };
        let answer: Value = request.send().expect("chromedriver answers").json().expect("WebDriver JSON");
        assert!(answer["value"]["error"].is_null(), "WebDriver {method} {path}: {answer}");
        answer["value"].clone()
    }

    fn goto(&self, url: &str) {
        self.call("POST", "/url", Some(json!({ "url": url })));
    }

    fn find(&self, css: &str) -> String {
        let found = self.call("POST", "/element", Some(json!({"using": "css selector", "value": css})));
        found[ELEMENT].as_str().unwrap().to_owned()
    }

    fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css);
        self.call("POST", &format!("/element/{element}/value"), Some(json!({ "text": text })));
    }

    fn click(&self, css: &str) {
        let element = self.find(css);
        self.call("POST", &format!("/element/{element}/click"), None);
    }

    /// What a buyer reads on the page.
    fn text(&self) -> String {
        let body = self.find("body");
        self.call("GET", &format!("/element/{body}/text"), None).as_str().unwrap().to_owned()
    }

    /// The page text once it contains `expected` (a click that submits a form
    /// returns before the next page has loaded).
    fn text_once(&self, expected: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            // The old page may go away between finding its body and reading it.
            let body = self
                .http
                .post(format!("{}/element", self.base))
                .json(&json!({"using": "css selector", "value": "body"}))
                .send();
            let text = body
                .ok()
                .and_then(|answer| answer.json::<Value>().ok())
                .and_then(|answer| answer["value"][ELEMENT].as_str().map(str::to_owned))
                .and_then(|id| self.http.get(format!("{}/element/{id}/text", self.base)).send().ok())
                .and_then(|answer| answer.json::<Value>().ok())
                .and_then(|answer| answer["value"].as_str().map(str::to_owned))
                .unwrap_or_default();
            if text.contains(expected) {
                return text;
            }
            assert!(Instant::now() < deadline, "the page never showed {expected:?}; it shows:\n{text}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn focused_id(&self) -> String {
        let active = self.call("GET", "/element/active", None);
        let id = active[ELEMENT].as_str().unwrap();
        self.call("GET", &format!("/element/{id}/attribute/id"), None).as_str().unwrap_or_default().to_owned()
    }

    fn resize(&self, width: u32, height: u32) {
        self.call("POST", "/window/rect", Some(json!({"width": width, "height": height})));
    }

    fn screenshot(&self, name: &str) {
        let png = self.call("GET", "/screenshot", None);
        let bytes = base64::engine::general_purpose::STANDARD.decode(png.as_str().unwrap()).unwrap();
        let dir = artifacts();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), bytes).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if self.base.contains("/session/") {
            let _ = self.http.delete(&self.base).send();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn artifacts() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("test-artifacts").join("portal")
}

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
    let browser = Browser::start();
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
    eprintln!("portal screenshots in {}", artifacts().display());
}
