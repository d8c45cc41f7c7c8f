//! One rate-limit budget across instances (`[rate_limits] redis_url`): two
//! real servers on one Postgres and one real Redis. A flood split across both
//! passes exactly the configured budget; with Redis stopped mid-flood the
//! service goes on (each instance on its own budget, said in the log and in
//! `/metrics`); with Redis back, one budget again.

use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use tessera_blackbox::{mint_demo_license, scratch_postgres_database, RunningServer};
use tessera_repository_contract::redis::RedisServer;

/// One request every 6 s after the burst: nothing refills during a flood.
const PER_MINUTE: u32 = 10;

fn client_from(ip: &str) -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().local_address(ip.parse::<IpAddr>().unwrap()).build().unwrap()
}

fn start(dir: &Path, database_url: &str) -> RunningServer {
    RunningServer::start_with(
        dir,
        &[
            ("TESSERA_DATABASE__URL", database_url),
            ("TESSERA_RATE_LIMITS__ENABLED", "true"),
            ("TESSERA_RATE_LIMITS__VALIDATE_PER_MINUTE", &PER_MINUTE.to_string()),
        ],
    )
}

/// `requests` validations from `ip`, alternating between the servers; the
/// statuses in order.
fn flood(servers: &[String; 2], ip: &str, key: &str, requests: usize) -> Vec<u16> {
    let http = client_from(ip);
    (0..requests)
        .map(|n| {
            http.post(format!("{}/v1/validate", servers[n % 2]))
                .json(&json!({"license_key": key}))
                .send()
                .map_or(0, |response| response.status().as_u16())
        })
        .collect()
}

fn passed(statuses: &[u16]) -> usize {
    statuses.iter().filter(|status| **status == 200).count()
}

fn metrics(server: &RunningServer, dir: &Path) -> String {
    let token = std::fs::read_to_string(dir.join("tessera-admin-token")).unwrap();
    reqwest::blocking::Client::new()
        .get(format!("{}/metrics", server.admin_url))
        .bearer_auth(token.trim())
        .send()
        .unwrap()
        .text()
        .unwrap()
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} is not in /metrics:\n{text}"))
}

#[test]
#[ignore = "needs Postgres and redis-server: set TESSERA_TEST_DATABASE_URL and run with --include-ignored (CI does)"]
fn two_instances_draw_from_one_budget_and_outlive_redis() {
    let mut redis = RedisServer::start();
    let database_url = scratch_postgres_database("shared_rate_limits");
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let config = format!("[rate_limits]\nredis_url = \"{}\"\n", redis.url);
    std::fs::write(dirs[0].path().join("tessera.toml"), &config).unwrap();
    let first = start(dirs[0].path(), &database_url);
    // The second replica shares the signing key, the admin token and the config.
    for file in ["tessera-dev-key.pem", "tessera-admin-token", "tessera.toml"] {
        std::fs::copy(dirs[0].path().join(file), dirs[1].path().join(file)).unwrap();
    }
    let mut second = start(dirs[1].path(), &database_url);
    let servers = [first.public_url.clone(), second.public_url.clone()];
    let key = mint_demo_license(&first, dirs[0].path());

    // 1. A flood split across both: exactly one budget passes, not one per instance.
    let started = Instant::now();
    let statuses = flood(&servers, "127.0.0.11", &key, 60);
    assert!(started.elapsed() < Duration::from_secs(6), "the flood must fit before one request refills");
    assert_eq!(passed(&statuses), PER_MINUTE as usize, "{statuses:?}");
    assert!(statuses.iter().all(|status| [200, 429].contains(status)), "{statuses:?}");
    assert_eq!(metric(&metrics(&first, dirs[0].path()), "tessera_rate_limit_shared_budget_up"), 1.0);

    // 2. Redis stops in the middle of a flood: every request is still answered.
    let flooding = {
        let (public, key) = (servers.clone(), key.clone());
        std::thread::spawn(move || {
            let http = client_from("127.0.0.12");
            let deadline = Instant::now() + Duration::from_secs(2);
            let mut statuses = Vec::new();
            while Instant::now() < deadline {
                let response = http
                    .post(format!("{}/v1/validate", public[statuses.len() % 2]))
                    .json(&json!({"license_key": key}))
                    .send();
                statuses.push(response.map_or(0, |response| response.status().as_u16()));
            }
            statuses
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    redis.stop();
    let statuses = flooding.join().unwrap();
    assert!(statuses.len() > 20, "{} requests in 2 s", statuses.len());
    assert!(statuses.iter().all(|status| [200, 429].contains(status)), "no 5xx, no dropped request: {statuses:?}");

    // 3. Without Redis each instance enforces its own budget: a fresh address
    //    gets one budget per instance, and both say so.
    let statuses = flood(&servers, "127.0.0.13", &key, 60);
    assert_eq!(passed(&statuses), 2 * PER_MINUTE as usize, "{statuses:?}");
    for (server, dir) in [(&first, dirs[0].path()), (&second, dirs[1].path())] {
        let text = metrics(server, dir);
        assert_eq!(metric(&text, "tessera_rate_limit_shared_budget_up"), 0.0);
        assert!(metric(&text, "tessera_rate_limit_fallback_checks_total") >= 30.0, "{text}");
    }
    assert!(
        second.logs().iter().any(|line| line.contains("the shared rate-limit budget is unavailable")),
        "the fallback is logged"
    );

    // 4. Redis back: one budget again, once the instances have tried it again.
    redis.restart();
    std::thread::sleep(Duration::from_millis(1500));
    let probe = flood(&servers, "127.0.0.14", &key, 2);
    assert_eq!(probe, [200, 200]);
    let statuses = flood(&servers, "127.0.0.14", &key, 60);
    assert_eq!(passed(&statuses) + 2, PER_MINUTE as usize, "{statuses:?}");
    assert_eq!(metric(&metrics(&second, dirs[1].path()), "tessera_rate_limit_shared_budget_up"), 1.0);
    assert!(second.logs().iter().any(|line| line.contains("Redis answers again")), "the recovery is logged");
}
