//! Fulfillment end to end on the real server: Gumroad sale → one license →
//! one email through a local fake Postmark that fails the way Postmark does.

use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::Value;
use tessera_blackbox::{assert_exit, cli, gumroad_sale_ping, stdout_of, FakePostmark, RunningServer};

const SECRET: &str = "blackbox-gumroad-secret";
const POSTMARK_TOKEN: &str = "pm-server-token-do-not-log";

fn configure(dir: &std::path::Path, postmark_url: &str) {
    std::fs::write(
        dir.join("tessera.toml"),
        format!(
            r#"
[storefronts.gumroad]
secret = "{SECRET}"
[storefronts.gumroad.products."32-nPAicqbLj8B_WswVlMw=="]
product = "demo"
tier = "standard"
[mail]
provider = "postmark"
from = "Demo Shop <licenses@demo.example>"
[mail.postmark]
token = "{POSTMARK_TOKEN}"
base_url = "{postmark_url}"
[mail.retry]
initial_seconds = 1
max_seconds = 2
"#
        ),
    )
    .unwrap();
}

struct Shop<'a> {
    public_url: String,
    admin_url: String,
    dir: &'a std::path::Path,
    http: reqwest::blocking::Client,
}

impl Shop<'_> {
    fn sell(&self, sale_id: &str) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}/webhooks/gumroad?secret={SECRET}", self.public_url))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(gumroad_sale_ping(sale_id))
            .send()
            .unwrap();
        (response.status().as_u16(), response.json().unwrap_or(Value::Null))
    }

    fn cli_json(&self, args: &[&str]) -> Value {
        let output = cli(self.dir, &self.admin_url, &[&["--json"], args].concat());
        assert_exit(&output, 0);
        serde_json::from_slice(&output.stdout).unwrap()
    }

    /// The deliveries of the license the sale produced.
    fn deliveries_of(&self, license_key: &str) -> Vec<Value> {
        let page = self.cli_json(&["deliveries", "--license", license_key]);
        page["items"].as_array().unwrap().clone()
    }

    /// Polls until the license's only delivery satisfies `done`.
    fn wait_for_delivery(&self, license_key: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let deliveries = self.deliveries_of(license_key);
            assert_eq!(deliveries.len(), 1, "{deliveries:?}");
            if done(&deliveries[0]) || Instant::now() > deadline {
                return deliveries[0].clone();
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

#[test]
fn a_sale_is_emailed_once_through_postmark_whatever_postmark_answers() {
    let postmark = FakePostmark::start();
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    configure(dir, &postmark.url);
    let mut server = RunningServer::start(dir);
    let shop = Shop {
        public_url: server.public_url.clone(),
        admin_url: server.admin_url.clone(),
        dir,
        http: reqwest::blocking::Client::new(),
    };

    // Postmark fails once with a 500; the sale is delivered ten times at once.
    postmark.answer_next(&[(500, r#"{"ErrorCode":500,"Message":"Internal"}"#)]);
    let receipts: Vec<(u16, Value)> = std::thread::scope(|scope| {
        let sells: Vec<_> = (0..10).map(|_| scope.spawn(|| shop.sell("sale-500"))).collect();
        sells.into_iter().map(|sell| sell.join().unwrap()).collect()
    });
    assert!(receipts.iter().all(|(status, _)| *status == 200), "{receipts:?}");
    let key = receipts[0].1["license_key"].as_str().unwrap().to_owned();
    assert!(receipts.iter().all(|(_, receipt)| receipt["license_key"] == key.as_str()));
    let sent = shop.wait_for_delivery(&key, |delivery| delivery["status"] == "sent");
    assert_eq!((sent["status"].as_str(), sent["attempts"].as_u64()), (Some("sent"), Some(2)), "{sent}");
    std::thread::sleep(Duration::from_millis(2500));
    let requests = postmark.requests();
    assert_eq!(requests.len(), 2, "one failed attempt, one email: {requests:?}");
    assert_eq!(sent["provider_message_id"], "fake-2");
    let licenses = shop.cli_json(&["list", "--source", "gumroad"]);
    assert_eq!(licenses["items"].as_array().unwrap().len(), 1, "one license");
    assert_eq!(shop.cli_json(&["events"])["items"].as_array().unwrap().len(), 10, "ten events recorded");

    // What Postmark received: the contract's fields, the token inline and attached.
    let email = &requests[1];
    assert_eq!(email.path, "/email");
    assert_eq!(email.header("x-postmark-server-token"), Some(POSTMARK_TOKEN));
    let body = &email.body;
    assert_eq!(body["From"], "Demo Shop <licenses@demo.example>");
    assert_eq!(body["MessageStream"], "outbound");
    assert_eq!(body["Subject"], "Your Demo App license");
    let token = licenses["items"][0]["token"].as_str().unwrap();
    assert!(body["TextBody"].as_str().unwrap().contains(&key) && body["TextBody"].as_str().unwrap().contains(token));
    assert!(body["HtmlBody"].as_str().unwrap().contains(&key));
    // base_url is not set: links follow the port the public listener really bound.
    let portal = format!("{}/portal", shop.public_url);
    assert!(body["TextBody"].as_str().unwrap().contains(&portal), "{portal}: the bound address + /portal");
    assert!(body["TextBody"].as_str().unwrap().contains("thank you for buying Demo App"), "a sale says thanks");
    let attachment = &body["Attachments"][0];
    assert_eq!(attachment["Name"], format!("{key}.lic"));
    let content = base64::engine::general_purpose::STANDARD.decode(attachment["Content"].as_str().unwrap()).unwrap();
    assert_eq!(String::from_utf8(content).unwrap().trim(), token);

    // 429: retried later, sent once.
    postmark.answer_next(&[(429, r#"{"ErrorCode":429,"Message":"Rate limit exceeded"}"#)]);
    let (_, receipt) = shop.sell("sale-429");
    let key_429 = receipt["license_key"].as_str().unwrap().to_owned();
    let sent = shop.wait_for_delivery(&key_429, |delivery| delivery["status"] == "sent");
    assert_eq!((sent["status"].as_str(), sent["attempts"].as_u64()), (Some("sent"), Some(2)), "{sent}");

    // 406 inactive recipient: failed after one attempt, never retried by itself.
    let before = postmark.requests().len();
    postmark.answer_next(&[(422, r#"{"ErrorCode":406,"Message":"You tried to send to an inactive recipient."}"#)]);
    let (_, receipt) = shop.sell("sale-406");
    let key_406 = receipt["license_key"].as_str().unwrap().to_owned();
    let failed = shop.wait_for_delivery(&key_406, |delivery| delivery["status"] == "failed");
    assert_eq!((failed["status"].as_str(), failed["attempts"].as_u64()), (Some("failed"), Some(1)), "{failed}");
    assert!(failed["last_error"].as_str().unwrap().contains("406"), "{failed}");
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(postmark.requests().len(), before + 1, "a rejected email is not retried");
    let listed = cli(dir, &server.admin_url, &["deliveries", "--failed"]);
    assert_exit(&listed, 0);
    assert!(stdout_of(&listed).contains(&key_406) && stdout_of(&listed).contains("1 shown"), "{}", stdout_of(&listed));

    // The operator fixed the address at Postmark and retries it.
    let retried = shop.cli_json(&["retry-delivery", failed["id"].as_str().unwrap()]);
    assert_eq!(retried["status"], "pending");
    let sent = shop.wait_for_delivery(&key_406, |delivery| delivery["status"] == "sent");
    assert_eq!((sent["status"].as_str(), sent["attempts"].as_u64()), (Some("sent"), Some(2)));

    // Redeliver queues a second, separate email.
    let redelivery = shop.cli_json(&["redeliver", &key]);
    assert_eq!((redelivery["kind"].as_str(), redelivery["status"].as_str()), (Some("redelivery"), Some("pending")));

    let logs = server.logs().join("\n");
    assert!(!logs.contains(POSTMARK_TOKEN) && !logs.contains(SECRET), "secrets never reach the logs");
    let admin_token = std::fs::read_to_string(dir.join("tessera-admin-token")).unwrap();
    let signing_key = std::fs::read_to_string(dir.join("tessera-dev-key.pem")).unwrap();
    let key_body = signing_key.lines().find(|line| !line.starts_with('-') && line.len() > 20).unwrap();
    let stdout = server.stdout.join("\n");
    for secret in [admin_token.trim(), key_body] {
        assert!(!logs.contains(secret), "neither the admin token nor the signing key is logged");
        assert!(!stdout.contains(secret) || secret == admin_token.trim(), "only the one-time admin token print");
    }
    let everything_admin_shows = [
        shop.cli_json(&["deliveries"]).to_string(),
        shop.cli_json(&["events"]).to_string(),
        shop.cli_json(&["audit", "--limit", "500"]).to_string(),
        shop.cli_json(&["list"]).to_string(),
    ]
    .join("");
    for secret in [POSTMARK_TOKEN, SECRET, admin_token.trim(), key_body] {
        assert!(!everything_admin_shows.contains(secret), "no secret in any admin answer");
    }
}

#[test]
fn email_waits_while_postmark_is_down_and_goes_out_when_it_is_back() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    configure(dir, &format!("http://127.0.0.1:{port}"));
    let server = RunningServer::start(dir);
    let shop = Shop {
        public_url: server.public_url.clone(),
        admin_url: server.admin_url.clone(),
        dir,
        http: reqwest::blocking::Client::new(),
    };

    let (status, receipt) = shop.sell("sale-down");
    assert_eq!((status, receipt["status"].as_str()), (200, Some("processed")), "{receipt}");
    let key = receipt["license_key"].as_str().unwrap().to_owned();
    let waiting = shop.wait_for_delivery(&key, |delivery| delivery["attempts"].as_u64() >= Some(2));
    assert_eq!(waiting["status"], "pending", "connection refused is retried: {waiting}");
    assert!(waiting["last_error"].as_str().is_some_and(|error| !error.is_empty()), "{waiting}");

    let postmark = FakePostmark::start_on_port(port);
    let sent = shop.wait_for_delivery(&key, |delivery| delivery["status"] == "sent");
    assert_eq!(sent["status"], "sent", "{sent}");
    assert_eq!(postmark.requests().len(), 1);
}

#[test]
#[ignore = "needs Postgres: set TESSERA_TEST_DATABASE_URL and run with --include-ignored (CI does)"]
fn two_servers_on_one_postgres_send_each_email_once() {
    let database_url = tessera_blackbox::scratch_postgres_database("mail");
    let postmark = FakePostmark::start();
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    configure(dirs[0].path(), &postmark.url);
    let (first, second) = tessera_blackbox::two_replicas([dirs[0].path(), dirs[1].path()], &database_url);
    let shops = [&first, &second].map(|server| Shop {
        public_url: server.public_url.clone(),
        admin_url: server.admin_url.clone(),
        dir: dirs[0].path(),
        http: reqwest::blocking::Client::new(),
    });

    // Twelve sales, each delivered to both replicas at once.
    let sales: Vec<String> = (0..12).map(|n| format!("replica-sale-{n}")).collect();
    std::thread::scope(|scope| {
        for sale in &sales {
            for shop in &shops {
                scope.spawn(move || assert_eq!(shop.sell(sale).0, 200));
            }
        }
    });
    let requests = postmark.wait_for(12, Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(2500));
    let requests = postmark.requests().len().max(requests.len());
    assert_eq!(requests, 12, "one email per sale, whichever replica sent it");
    let sent = shops[1].cli_json(&["deliveries", "--status", "sent"]);
    assert_eq!(sent["items"].as_array().unwrap().len(), 12);
    assert_eq!(shops[0].cli_json(&["list", "--source", "gumroad"])["items"].as_array().unwrap().len(), 12);
}
