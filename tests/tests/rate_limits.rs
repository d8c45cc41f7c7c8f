//! Per-IP rate limits on the real server: the 11th activation in a minute from
//! one address gets 429, other addresses do not, a spoofed X-Forwarded-For
//! from an untrusted peer changes nothing, and webhooks are limited only for
//! failed authentications.

use std::net::IpAddr;

use serde_json::{json, Value};
use tessera_blackbox::{assert_exit, cli, RunningServer};

fn client_from(ip: &str) -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().local_address(ip.parse::<IpAddr>().unwrap()).build().unwrap()
}

fn mint(dir: &std::path::Path, server: &RunningServer) -> String {
    let args = ["--json", "mint", "--product", "demo", "--tier", "pro", "--name", "Ada", "--email", "ada@example.com"];
    let minted = cli(dir, &server.admin_url, &args);
    assert_exit(&minted, 0);
    serde_json::from_slice::<Value>(&minted.stdout).unwrap()["license"]["key"].as_str().unwrap().to_owned()
}

fn activate(
    http: &reqwest::blocking::Client,
    server: &RunningServer,
    key: &str,
    forwarded: Option<&str>,
) -> reqwest::blocking::Response {
    let mut request = http
        .post(format!("{}/v1/activate", server.public_url))
        .json(&json!({"license_key": key, "fingerprint": "same-machine"}));
    if let Some(forwarded) = forwarded {
        request = request.header("X-Forwarded-For", forwarded);
    }
    request.send().unwrap()
}

#[test]
fn the_eleventh_activation_in_a_minute_from_one_address_is_limited() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    std::fs::write(
        dir.join("tessera.toml"),
        "[storefronts.gumroad]\nsecret = \"rate-limit-test-secret\"\n[storefronts.gumroad.products.\"p\"]\nproduct = \"demo\"\ntier = \"pro\"\n",
    )
    .unwrap();
    let server = RunningServer::start_with(dir, &[("TESSERA_RATE_LIMITS__ENABLED", "true")]);
    let key = mint(dir, &server);
    let local = client_from("127.0.0.1");

    for n in 1..=10 {
        let response = activate(&local, &server, &key, None);
        assert_eq!(response.status().as_u16(), 200, "activation {n}");
        assert_eq!(response.headers()["X-RateLimit-Limit"], "10");
    }
    let limited = activate(&local, &server, &key, Some("198.51.100.7"));
    assert_eq!(limited.status().as_u16(), 429, "a spoofed X-Forwarded-For from an untrusted peer changes nothing");
    let retry_after: u64 = limited.headers()["Retry-After"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(limited.headers()["X-RateLimit-Remaining"], "0");
    assert!(limited.headers().contains_key("Tessera-Signature"), "a limited answer is signed like any other");
    assert_eq!(limited.json::<Value>().unwrap()["code"], "RATE_LIMITED");

    // Another address is unaffected (all of 127/8 is loopback on Linux).
    assert_eq!(activate(&client_from("127.0.0.2"), &server, &key, None).status().as_u16(), 200);
    // Other routes have their own budget.
    let validated =
        local.post(format!("{}/v1/validate", server.public_url)).json(&json!({"license_key": key})).send().unwrap();
    assert_eq!(validated.status().as_u16(), 200);

    // Webhooks: failed authentications are limited per address; a genuine delivery never is.
    let webhook = |secret: &str| {
        local
            .post(format!("{}/webhooks/gumroad?secret={secret}", server.public_url))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("sale_id=s-1&product_id=p&email=buyer%40example.com&full_name=Buyer")
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    let failures: Vec<u16> = (0..11).map(|_| webhook("wrong-secret")).collect();
    assert_eq!(&failures[..10], [401; 10]);
    assert_eq!(failures[10], 429);
    assert_eq!(webhook("rate-limit-test-secret"), 200, "an authenticated delivery is never limited");
}

#[test]
fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let server = RunningServer::start_with(
        dir,
        &[("TESSERA_RATE_LIMITS__ENABLED", "true"), ("TESSERA_RATE_LIMITS__TRUSTED_PROXIES", "[\"127.0.0.1\"]")],
    );
    let key = mint(dir, &server);
    let proxy = client_from("127.0.0.1");
    for _ in 0..10 {
        assert_eq!(activate(&proxy, &server, &key, Some("203.0.113.5")).status().as_u16(), 200);
    }
    assert_eq!(activate(&proxy, &server, &key, Some("203.0.113.5")).status().as_u16(), 429);
    assert_eq!(activate(&proxy, &server, &key, Some("203.0.113.6")).status().as_u16(), 200, "another client");
    // The client cannot pick its key: a hop it prepends is ignored, the proxy's view counts.
    assert_eq!(activate(&proxy, &server, &key, Some("10.9.9.9, 203.0.113.5")).status().as_u16(), 429);
}
