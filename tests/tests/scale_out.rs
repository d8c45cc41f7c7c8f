//! The scale-out soak: two real servers on one Postgres behind round-robin
//! (a client that tries the next instance when one does not answer, as a
//! load balancer does), mixed activations, validations, heartbeats and
//! Gumroad sales for about 40 s, one instance killed with SIGKILL midway and
//! started again. Afterwards: no acknowledged write is lost, the seat limit
//! is exact, each sale is one license and at most one email — exactly one
//! unless its send was cut by the kill, which the outbox then reports.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tessera_blackbox::{gumroad_sale_ping, scratch_postgres_database, FakePostmark, RunningServer};

const SECRET: &str = "scale-out-gumroad-secret-0123456789";
const SEATS: usize = 25;
const SOAK: Duration = Duration::from_secs(40);
/// How many deliveries one outbox pass claims and sends side by side
/// (`BATCH` in apps/server/src/outbox_worker.rs): the most a hard kill can cut.
const OUTBOX_PASS: usize = 32;

fn configure(dir: &Path, postmark_url: &str) {
    let config = format!(
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
token = "scale-out-postmark-token"
base_url = "{postmark_url}"
"#
    );
    std::fs::write(dir.join("tessera.toml"), config).unwrap();
}

fn start(dir: &Path, database_url: &str) -> RunningServer {
    RunningServer::start_with(dir, &[("TESSERA_DATABASE__URL", database_url)])
}

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().timeout(Duration::from_secs(10)).build().unwrap()
}

/// The instances' public URLs; a dead one's is replaced when it is back.
type Upstreams = Arc<RwLock<[String; 2]>>;

/// Round-robin with fail-over: `send` goes to the next instance, and to the
/// other one when the first does not answer at all.
struct Balancer {
    upstreams: Upstreams,
    next: AtomicU64,
    client: reqwest::blocking::Client,
}

impl Balancer {
    fn post(&self, path: &str, body: &RequestBody) -> Option<(u16, Value)> {
        let first = self.next.fetch_add(1, Ordering::Relaxed) as usize;
        for attempt in 0..4 {
            let base = self.upstreams.read().unwrap()[(first + attempt) % 2].clone();
            let request = self.client.post(format!("{base}{path}"));
            let request = match body {
                RequestBody::Json(value) => request.json(value),
                RequestBody::Form(text) => {
                    request.header("Content-Type", "application/x-www-form-urlencoded").body(text.clone())
                }
            };
            match request.send() {
                Ok(response) => {
                    let status = response.status().as_u16();
                    return Some((status, response.json().unwrap_or(Value::Null)));
                }
                // Not answered (refused, reset mid-request): the balancer tries
                // the other instance. Each request here is safe to repeat.
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        None
    }
}

enum RequestBody {
    Json(Value),
    Form(String),
}

#[derive(Default)]
struct Tally {
    activations: Vec<(String, String)>,
    sales: Vec<(String, String)>,
    validations: u64,
    heartbeats: u64,
    server_errors: Vec<String>,
}

fn load(balancer: &Balancer, thread: usize, key: &str, stop: &AtomicBool, tally: &Mutex<Tally>) {
    let mut leases: Vec<(String, String)> = Vec::new();
    let webhook = format!("/webhooks/gumroad?secret={SECRET}");
    for n in 0u64.. {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let fingerprint = format!("soak-{thread}-{n}");
        let sale = format!("soak-sale-{thread}-{}", n / 4);
        let validate = ("/v1/validate", RequestBody::Json(json!({"license_key": key})));
        let (path, body) = match n % 4 {
            0 => ("/v1/activate", RequestBody::Json(json!({"license_key": key, "fingerprint": fingerprint}))),
            1 => validate,
            2 => match leases.get(n as usize % leases.len().max(1)) {
                Some((lease, fingerprint)) => {
                    ("/v1/heartbeat", RequestBody::Json(json!({"lease": lease, "fingerprint": fingerprint})))
                }
                None => validate,
            },
            _ => (webhook.as_str(), RequestBody::Form(gumroad_sale_ping(&sale))),
        };
        // Every fifth sale is delivered twice (the balancer sends the second
        // to the other instance), as a storefront retrying would.
        let repeats = if path == webhook && (n / 4) % 5 == 0 { 2 } else { 1 };
        for _ in 0..repeats {
            let Some((status, answer)) = balancer.post(path, &body) else { continue };
            let mut tally = tally.lock().unwrap();
            if status >= 500 {
                tally.server_errors.push(format!("{path}: {status} {answer}"));
                continue;
            }
            match path {
                "/v1/activate" if status == 200 => {
                    let id = answer["activation_id"].as_str().unwrap_or_default().to_owned();
                    leases.push((answer["lease"].as_str().unwrap_or_default().to_owned(), fingerprint.clone()));
                    tally.activations.push((id, fingerprint.clone()));
                }
                "/v1/validate" if status == 200 => tally.validations += 1,
                "/v1/heartbeat" if status == 200 => tally.heartbeats += 1,
                _ if path == webhook && status == 200 => {
                    tally.sales.push((sale.clone(), answer["license_key"].as_str().unwrap_or_default().to_owned()));
                }
                _ => {}
            }
        }
    }
}

fn admin_get(admin_url: &str, dir: &Path, path: &str) -> Value {
    let token = std::fs::read_to_string(dir.join("tessera-admin-token")).unwrap();
    http().get(format!("{admin_url}{path}")).bearer_auth(token.trim()).send().unwrap().json().unwrap()
}

/// Every page of a list endpoint.
fn all_items(admin_url: &str, dir: &Path, path: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = match &cursor {
            Some(cursor) => admin_get(admin_url, dir, &format!("{path}&cursor={cursor}")),
            None => admin_get(admin_url, dir, path),
        };
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return items,
        }
    }
}

#[test]
#[ignore = "needs Postgres: set TESSERA_TEST_DATABASE_URL and run with --include-ignored (CI does)"]
fn two_instances_under_mixed_load_with_one_killed_and_restarted_lose_nothing() {
    let database_url = scratch_postgres_database("scale_out");
    let postmark = FakePostmark::start();
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    configure(dirs[0].path(), &postmark.url);
    let first = start(dirs[0].path(), &database_url);
    for file in ["tessera-dev-key.pem", "tessera-admin-token", "tessera.toml"] {
        std::fs::copy(dirs[0].path().join(file), dirs[1].path().join(file)).unwrap();
    }
    let second = start(dirs[1].path(), &database_url);
    let admin_url = second.admin_url.clone();
    let token = std::fs::read_to_string(dirs[0].path().join("tessera-admin-token")).unwrap();
    let minted: Value = http()
        .post(format!("{}/admin/v1/licenses", first.admin_url))
        .bearer_auth(token.trim())
        .json(
            &json!({"product": "demo", "tier": "standard", "name": "Ada", "email": "ada@example.com", "seats": SEATS}),
        )
        .send()
        .unwrap()
        .json()
        .unwrap();
    let key = minted["license"]["key"].as_str().expect("minted").to_owned();
    let postmark_before = postmark.requests().len();

    let upstreams: Upstreams = Arc::new(RwLock::new([first.public_url.clone(), second.public_url.clone()]));
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let threads: Vec<_> = (0..6)
        .map(|thread| {
            let (upstreams, stop, tally, key) = (upstreams.clone(), stop.clone(), tally.clone(), key.clone());
            std::thread::spawn(move || {
                let balancer = Balancer { upstreams, next: AtomicU64::new(thread as u64), client: http() };
                load(&balancer, thread, &key, &stop, &tally);
            })
        })
        .collect();

    let started = Instant::now();
    std::thread::sleep(SOAK / 3);
    first.kill_hard();
    let killed_at = started.elapsed();
    std::thread::sleep(SOAK / 6);
    let restarted = start(dirs[0].path(), &database_url);
    upstreams.write().unwrap()[0] = restarted.public_url.clone();
    std::thread::sleep(SOAK.saturating_sub(started.elapsed()));
    stop.store(true, Ordering::Relaxed);
    threads.into_iter().for_each(|thread| thread.join().unwrap());
    let tally = std::mem::take(&mut *tally.lock().unwrap());
    eprintln!(
        "soak: {:.0} s, instance 1 killed at {:.1} s and restarted; acknowledged: {} activations, {} validations, {} heartbeats, {} sales",
        started.elapsed().as_secs_f64(),
        killed_at.as_secs_f64(),
        tally.activations.len(),
        tally.validations,
        tally.heartbeats,
        tally.sales.len()
    );
    assert!(tally.server_errors.is_empty(), "5xx under load: {:?}", tally.server_errors);
    assert!(tally.validations > 100 && tally.heartbeats > 20 && tally.sales.len() > 50, "the load ran");

    // Seats: exact. Far more machines asked than there are seats, so every
    // seat is taken, and each acknowledged activation is one of them.
    let license = admin_get(&admin_url, dirs[1].path(), &format!("/admin/v1/licenses/{key}"));
    let live: Vec<&str> = license["activations"].as_array().unwrap().iter().filter_map(|a| a["id"].as_str()).collect();
    assert_eq!(live.len(), SEATS, "every seat taken, none over");
    for (id, fingerprint) in &tally.activations {
        assert!(live.contains(&id.as_str()), "acknowledged activation of {fingerprint} lost");
    }

    // Sales: each acknowledged sale is one license, whatever instance and however often.
    let licenses = all_items(&admin_url, dirs[1].path(), "/admin/v1/licenses?source=gumroad&limit=200");
    let mut licenses_of_sale: HashMap<&str, Vec<&str>> = HashMap::new();
    for license in &licenses {
        let (sale, key) = (license["source_ref"].as_str().unwrap(), license["key"].as_str().unwrap());
        licenses_of_sale.entry(sale).or_default().push(key);
    }
    for (sale, license_key) in &tally.sales {
        let keys = licenses_of_sale.get(sale.as_str()).map(Vec::as_slice).unwrap_or_default();
        assert_eq!(keys, [license_key.as_str()], "sale {sale}: one license, the one it was answered with");
    }

    // Emails: the outbox drains. Each sale's license got at most one email,
    // and exactly one unless the kill cut its send: the killed instance's
    // claim (one pass, at most OUTBOX_PASS) stays `sending` until it lapses after two
    // minutes and is then marked `failed`, never sent twice.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last_pending = usize::MAX;
    let mut steady_since = Instant::now();
    let deliveries = loop {
        let deliveries = all_items(&admin_url, dirs[1].path(), "/admin/v1/deliveries?limit=200");
        let pending = deliveries.iter().filter(|delivery| delivery["status"] != "sent").count();
        if pending != last_pending {
            (last_pending, steady_since) = (pending, Instant::now());
        }
        if pending == 0 || (pending <= OUTBOX_PASS && steady_since.elapsed() > Duration::from_secs(5)) {
            break deliveries;
        }
        assert!(Instant::now() < deadline, "{pending} emails still pending");
        std::thread::sleep(Duration::from_millis(200));
    };
    // Postmark's copy of each email names its delivery (Metadata.tessera_reference).
    let emails = postmark.requests();
    let emails = &emails[postmark_before..];
    let mut sent_per_delivery: HashMap<String, usize> = HashMap::new();
    for email in emails {
        let reference = email.body["Metadata"]["tessera_reference"].as_str().unwrap_or_default();
        *sent_per_delivery.entry(reference.to_owned()).or_default() += 1;
    }
    let license_emails: HashMap<&str, &Value> = deliveries
        .iter()
        .filter(|delivery| delivery["kind"] == "license")
        .map(|delivery| (delivery["license_key"].as_str().unwrap_or_default(), delivery))
        .collect();
    let mut cut = std::collections::HashSet::new();
    for (sale, license_key) in &tally.sales {
        let delivery =
            license_emails.get(license_key.as_str()).unwrap_or_else(|| panic!("sale {sale}: no license email queued"));
        let sent = sent_per_delivery.get(delivery["id"].as_str().unwrap()).copied().unwrap_or(0);
        match delivery["status"].as_str() {
            Some("sent") => assert_eq!(sent, 1, "sale {sale}: one email"),
            Some("failed" | "sending") => {
                assert!(sent <= 1, "sale {sale}: {sent} emails");
                cut.insert(delivery["id"].as_str().unwrap());
            }
            other => panic!("sale {sale}: delivery {other:?}"),
        }
    }
    let cut = cut.len();
    assert!(cut <= OUTBOX_PASS, "only sends in flight at the kill may be cut: {cut}");
    eprintln!(
        "soak: {} live seats of {SEATS}, {} licenses for {} distinct sales, {} emails ({cut} cut by the kill)",
        live.len(),
        licenses.len(),
        licenses_of_sale.len(),
        emails.len()
    );
    drop(restarted);
}
