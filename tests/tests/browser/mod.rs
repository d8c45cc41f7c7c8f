//! A headless Chromium driven over WebDriver (chromedriver), shared by the
//! browser tests. The WebDriver calls are a few lines of JSON over the
//! `reqwest` the tests already use: the WebDriver client crates pull a second
//! TLS stack (aws-lc) into the build for a protocol spoken here over plain
//! loopback HTTP.
#![allow(dead_code)] // Each test uses some of it.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|dir| Path::new(dir).join(program)).find(|path| path.is_file())
}

/// A headless Chromium session behind a chromedriver process.
pub struct Browser {
    driver: Child,
    base: String,
    http: reqwest::blocking::Client,
    artifacts: &'static str,
}

impl Browser {
    /// A browser whose screenshots go to `<target>/test-artifacts/<artifacts>/`.
    pub fn start(artifacts: &'static str) -> Self {
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
        let mut browser = Self { driver, base: format!("http://127.0.0.1:{port}"), http, artifacts };
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

    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
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

    pub fn current_url(&self) -> String {
        self.call("GET", "/url", None).as_str().unwrap().to_owned()
    }

    pub fn goto(&self, url: &str) {
        self.call("POST", "/url", Some(json!({ "url": url })));
    }

    pub fn find(&self, css: &str) -> String {
        let found = self.call("POST", "/element", Some(json!({"using": "css selector", "value": css})));
        found[ELEMENT].as_str().unwrap().to_owned()
    }

    pub fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css);
        self.call("POST", &format!("/element/{element}/value"), Some(json!({ "text": text })));
    }

    pub fn click(&self, css: &str) {
        let element = self.find(css);
        self.call("POST", &format!("/element/{element}/click"), None);
    }

    /// What a buyer reads on the page.
    pub fn text(&self) -> String {
        let body = self.find("body");
        self.call("GET", &format!("/element/{body}/text"), None).as_str().unwrap().to_owned()
    }

    /// The page text once it contains `expected` (a click that submits a form
    /// returns before the next page has loaded).
    pub fn text_once(&self, expected: &str) -> String {
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

    pub fn focused_id(&self) -> String {
        let active = self.call("GET", "/element/active", None);
        let id = active[ELEMENT].as_str().unwrap();
        self.call("GET", &format!("/element/{id}/attribute/id"), None).as_str().unwrap_or_default().to_owned()
    }

    pub fn resize(&self, width: u32, height: u32) {
        self.call("POST", "/window/rect", Some(json!({"width": width, "height": height})));
    }

    pub fn screenshot(&self, name: &str) {
        let png = self.call("GET", "/screenshot", None);
        let bytes = base64::engine::general_purpose::STANDARD.decode(png.as_str().unwrap()).unwrap();
        let dir = self.artifacts();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), bytes).unwrap();
    }
}

impl Browser {
    /// Where this browser's screenshots go.
    pub fn artifacts(&self) -> PathBuf {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
        target.join("test-artifacts").join(self.artifacts)
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
