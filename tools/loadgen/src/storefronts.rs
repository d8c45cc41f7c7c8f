//! Sales from Lemon Squeezy, Paddle, Stripe and Polar for the `webhook-<name>`
//! workloads: each a new order built from the adapter's fixture, signed with
//! the provider's scheme, and, for the providers whose sales need an API
//! lookup (Paddle's customer, Stripe's line items), a keep-alive stand-in for
//! that API on loopback, so the lookup is part of what is measured.

use ring::hmac;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

pub const NAMES: [&str; 4] = ["lemonsqueezy", "paddle", "stripe", "polar"];
const SECRET: &str = "whsec_bG9hZGdlbi1zdG9yZWZyb250LXNlY3JldA==";
const PRODUCT: &str = "1000";

/// The `[storefronts.*]` sections, every product id mapped to the bench tier.
pub fn config(api_url: &str) -> String {
    let mut config = String::new();
    for name in NAMES {
        config.push_str(&format!("[storefronts.{name}]\nsecret = \"{SECRET}\"\n"));
        if matches!(name, "paddle" | "stripe") {
            config.push_str(&format!("api_key = \"loadgen-api-key\"\napi_base_url = \"{api_url}\"\n"));
        }
        if name == "paddle" {
            config.push_str("tolerance_seconds = 60\n");
        }
        config.push_str(&format!("[storefronts.{name}.products.\"{PRODUCT}\"]\nproduct = \"bench\"\ntier = \"big\"\n"));
    }
    config
}

fn fixture(name: &str) -> Value {
    let text = match name {
        "lemonsqueezy" => include_str!("../../../adapters/lemonsqueezy/tests/fixtures/order_created.json"),
        "paddle" => include_str!("../../../adapters/paddle/tests/fixtures/transaction.completed.json"),
        "stripe" => include_str!("../../../adapters/stripe/tests/fixtures/checkout.session.completed.json"),
        "polar" => include_str!("../../../adapters/polar/tests/fixtures/order.paid.json"),
        other => panic!("no storefront {other}"),
    };
    serde_json::from_str(text).expect("a fixture")
}

/// The fixture of each storefront, parsed once.
pub struct Sales {
    fixtures: Vec<(&'static str, Value)>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

impl Sales {
    pub fn new() -> Self {
        Self { fixtures: NAMES.iter().map(|name| (*name, fixture(name))).collect() }
    }

    /// Sale `order` from `storefront`: the signature headers and the body.
    pub fn sale(&self, storefront: &str, order: &str) -> (Vec<(&'static str, String)>, Vec<u8>) {
        let mut event = self.fixtures.iter().find(|(name, _)| *name == storefront).expect("a storefront").1.clone();
        match storefront {
            "lemonsqueezy" => {
                event["data"]["id"] = json!(order);
                event["data"]["attributes"]["first_order_item"]["variant_id"] = json!(PRODUCT);
            }
            "paddle" => {
                event["data"]["id"] = json!(order);
                event["data"]["subscription_id"] = Value::Null;
                event["data"]["items"][0]["price"]["id"] = json!(PRODUCT);
            }
            "stripe" => {
                event["data"]["object"]["id"] = json!(format!("cs_{order}"));
                event["data"]["object"]["payment_intent"] = json!(format!("pi_{order}"));
            }
            _ => {
                event["data"]["id"] = json!(order);
                event["data"]["product_id"] = json!(PRODUCT);
            }
        }
        let body = serde_json::to_vec(&event).expect("JSON");
        let key = |bytes: &[u8]| hmac::Key::new(hmac::HMAC_SHA256, bytes);
        let at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("time").as_secs();
        let tag = |key: &hmac::Key, prefix: String| hmac::sign(key, &[prefix.as_bytes(), &body].concat());
        let headers = match storefront {
            "lemonsqueezy" => vec![("x-signature", hex(hmac::sign(&key(SECRET.as_bytes()), &body).as_ref()))],
            "paddle" => {
                vec![(
                    "paddle-signature",
                    format!("ts={at};h1={}", hex(tag(&key(SECRET.as_bytes()), format!("{at}:")).as_ref())),
                )]
            }
            "stripe" => {
                vec![(
                    "stripe-signature",
                    format!("t={at},v1={}", hex(tag(&key(SECRET.as_bytes()), format!("{at}.")).as_ref())),
                )]
            }
            _ => {
                use base64::Engine;
                let engine = base64::engine::general_purpose::STANDARD;
                let standard = engine.decode(SECRET.trim_start_matches("whsec_")).expect("base64");
                let id = format!("msg_{order}");
                let signature = engine.encode(tag(&key(&standard), format!("{id}.{at}.")).as_ref());
                vec![
                    ("webhook-id", id),
                    ("webhook-timestamp", at.to_string()),
                    ("webhook-signature", format!("v1,{signature}")),
                ]
            }
        };
        (headers, body)
    }
}

/// Paddle's `GET /customers/{id}`, Stripe's line items and Postmark's
/// `POST /email` (the production mail path), answered from memory on
/// keep-alive connections. Returns its base URL.
pub async fn start_fake_api() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the fake API");
    let url = format!("http://{}", listener.local_addr().expect("an address"));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream));
        }
    });
    url
}

async fn serve(stream: tokio::net::TcpStream) {
    let customer = r#"{"data":{"id":"ctm_1","email":"load@example.com","name":"Load Test"}}"#;
    let sent = r#"{"To":"load@example.com","SubmittedAt":"2026-12-01T00:00:00Z","MessageID":"loadgen","ErrorCode":0,"Message":"OK"}"#;
    let items =
        format!(r#"{{"object":"list","data":[{{"price":{{"id":"{PRODUCT}","recurring":null}},"quantity":1}}]}}"#);
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).await.unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).await.unwrap_or(0) == 0 {
                return;
            }
            if header.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut request_body = vec![0; length];
        if tokio::io::AsyncReadExt::read_exact(&mut reader, &mut request_body).await.is_err() {
            return;
        }
        let body = if request_line.starts_with("POST /email") {
            sent
        } else if request_line.contains("/customers/") {
            customer
        } else {
            items.as_str()
        };
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if writer.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}
