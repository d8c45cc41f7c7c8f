//! Fault and crash tests on the real binaries: `kill -9` under concurrent
//! activations and webhooks, Postgres going away under traffic, a full disk
//! and a read-only SQLite database. What was acknowledged must survive, what
//! was refused must be refused clearly, and nothing may be corrupted.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tessera_blackbox::{gumroad_sale_ping, RunningServer};

const SECRET: &str = "faults-gumroad-secret-0123456789";

fn configure_gumroad(dir: &Path) {
    std::fs::write(
        dir.join("tessera.toml"),
        format!(
            "[storefronts.gumroad]\nsecret = \"{SECRET}\"\n[storefronts.gumroad.products.\"32-nPAicqbLj8B_WswVlMw==\"]\nproduct = \"demo\"\ntier = \"standard\"\n"
        ),
    )
    .unwrap();
}

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().timeout(Duration::from_secs(10)).build().unwrap()
}

fn admin_token(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("tessera-admin-token")).unwrap().trim().to_owned()
}

fn admin_get(server: &RunningServer, dir: &Path, path: &str) -> Value {
    http().get(format!("{}{path}", server.admin_url)).bearer_auth(admin_token(dir)).send().unwrap().json().unwrap()
}

fn mint(server: &RunningServer, dir: &Path, seats: u32) -> String {
    let body =
        json!({"product": "demo", "tier": "standard", "name": "Ada", "email": "ada@example.com", "seats": seats});
    let answer: Value = http()
        .post(format!("{}/admin/v1/licenses", server.admin_url))
        .bearer_auth(admin_token(dir))
        .json(&body)
        .send()
        .unwrap()
        .json()
        .unwrap();
    answer["license"]["key"].as_str().expect("minted").to_owned()
}

fn sell(client: &reqwest::blocking::Client, public_url: &str, sale_id: &str) -> Result<(u16, Value), String> {
    let response = client
        .post(format!("{public_url}/webhooks/gumroad?secret={SECRET}"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(gumroad_sale_ping(sale_id))
        .send()
        .map_err(|error| error.to_string())?;
    let status = response.status().as_u16();
    Ok((status, response.json().unwrap_or(Value::Null)))
}

/// Acknowledged answers collected by the load threads.
#[derive(Default)]
struct Acknowledged {
    activations: Vec<String>,
    sales: Vec<(String, String)>,
}

/// Activations (distinct machines on one 5-seat license) and sales from 8
/// threads until `stop`; every 200 is recorded.
fn traffic(
    public_url: &str,
    key: &str,
    stop: &Arc<AtomicBool>,
    acked: &Arc<Mutex<Acknowledged>>,
) -> Vec<std::thread::JoinHandle<()>> {
    (0..8)
        .map(|thread| {
            let (public_url, key, stop, acked) = (public_url.to_owned(), key.to_owned(), stop.clone(), acked.clone());
            std::thread::spawn(move || {
                let client = http();
                for n in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    if thread % 2 == 0 {
                        let body = json!({"license_key": key, "fingerprint": format!("crash-{thread}-{n}")});
                        match client.post(format!("{public_url}/v1/activate")).json(&body).send() {
                            Ok(response) if response.status() == 200 => {
                                let answer: Value = response.json().unwrap_or(Value::Null);
                                if let Some(id) = answer["activation_id"].as_str() {
                                    acked.lock().unwrap().activations.push(id.to_owned());
                                }
                            }
                            Ok(_) => {}
                            Err(_) => std::thread::sleep(Duration::from_millis(5)),
                        }
                    } else {
                        let sale = format!("crash-sale-{thread}-{n}");
                        match sell(&client, &public_url, &sale) {
                            Ok((200, receipt)) => {
                                let license = receipt["license_key"].as_str().unwrap_or_default().to_owned();
                                acked.lock().unwrap().sales.push((sale, license));
                            }
                            Ok(_) => {}
                            Err(_) => std::thread::sleep(Duration::from_millis(5)),
                        }
                    }
                }
            })
        })
        .collect()
}

/// After a restart: every acknowledged activation holds its seat within the
/// limit, every acknowledged sale is a recorded event whose license exists.
fn assert_nothing_acknowledged_is_lost(server: &RunningServer, dir: &Path, key: &str, acked: &Acknowledged) {
    let license = admin_get(server, dir, &format!("/admin/v1/licenses/{key}"));
    let live: Vec<&str> = license["activations"].as_array().unwrap().iter().filter_map(|a| a["id"].as_str()).collect();
    assert!(live.len() <= 5, "seat limit exceeded: {} machines", live.len());
    for id in &acked.activations {
        assert!(live.contains(&id.as_str()), "acknowledged activation {id} lost; live: {live:?}");
    }
    let mut events = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/admin/v1/storefront-events?limit=200&cursor={cursor}"),
            None => "/admin/v1/storefront-events?limit=200".to_owned(),
        };
        let page = admin_get(server, dir, &path);
        events.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    for (sale, license_key) in &acked.sales {
        assert!(
            events.iter().any(|event| event["body"].as_str().is_some_and(|body| body.contains(sale.as_str()))),
            "acknowledged sale {sale} lost"
        );
        if !license_key.is_empty() {
            let found = http()
                .get(format!("{}/admin/v1/licenses/{license_key}", server.admin_url))
                .bearer_auth(admin_token(dir))
                .send()
                .unwrap();
            assert_eq!(found.status(), 200, "the license of acknowledged sale {sale} is lost");
        }
    }
}

fn kill_during_traffic(dir: &Path, env: &[(&str, &str)]) {
    configure_gumroad(dir);
    let server = RunningServer::start_with(dir, env);
    let key = mint(&server, dir, 5);
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Acknowledged::default()));
    let threads = traffic(&server.public_url, &key, &stop, &acked);
    let started = Instant::now();
    while acked.lock().unwrap().sales.len() < 20 && started.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    server.kill_hard();
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    threads.into_iter().for_each(|thread| thread.join().unwrap());
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    assert!(!acked.sales.is_empty() && !acked.activations.is_empty(), "traffic was acknowledged before the kill");

    let restarted = RunningServer::start_with(dir, env);
    assert_nothing_acknowledged_is_lost(&restarted, dir, &key, &acked);
    eprintln!(
        "kill -9 under traffic: {} activations and {} sales acknowledged, all present after restart",
        acked.activations.len(),
        acked.sales.len()
    );
}

#[test]
fn kill_9_during_activations_and_webhooks_loses_nothing_acknowledged_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    kill_during_traffic(dir.path(), &[]);
}

#[test]
#[ignore = "needs Postgres: set TESSERA_TEST_DATABASE_URL and run with --include-ignored (CI does)"]
fn kill_9_during_activations_and_webhooks_loses_nothing_acknowledged_on_postgres() {
    let url = tessera_blackbox::scratch_postgres_database("kill9");
    let dir = tempfile::tempdir().unwrap();
    kill_during_traffic(dir.path(), &[("TESSERA_DATABASE__URL", &url)]);
}

/// A Postgres cluster of this test's own (so stopping it disturbs no other
/// test), run as the `postgres` user.
struct PrivatePostgres {
    dir: tempfile::TempDir,
    bin: std::path::PathBuf,
    port: u16,
}

impl PrivatePostgres {
    fn start() -> Option<Self> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path().join("bin"))
            .max()?;
        if !bin.join("initdb").exists()
            || Command::new("id").arg("postgres").output().map_or(true, |o| !o.status.success())
        {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        Command::new("chown").args(["postgres:postgres"]).arg(dir.path()).status().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let cluster = Self { dir, bin, port };
        let data = cluster.data();
        cluster.as_postgres(&["initdb", "-D", &data, "-A", "trust", "-U", "postgres"]);
        cluster.pg_ctl("start");
        Some(cluster)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn as_postgres(&self, args: &[&str]) {
        let output = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join(args[0]))
            .args(&args[1..])
            .output()
            .unwrap();
        assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    }

    fn pg_ctl(&self, action: &str) {
        let options = format!("-p {} -k {} -c listen_addresses=127.0.0.1", self.port, self.dir.path().display());
        let log = self.dir.path().join("log").display().to_string();
        self.as_postgres(&["pg_ctl", "-D", &self.data(), "-w", "-l", &log, "-o", &options, "-m", "fast", action]);
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .args(["-D", &self.data(), "-m", "immediate", "stop"])
            .output();
    }
}

fn status_of(client: &reqwest::blocking::Client, url: &str) -> u16 {
    client.get(url).send().map_or(0, |response| response.status().as_u16())
}

#[test]
#[ignore = "needs the PostgreSQL server binaries (initdb, pg_ctl) and a `postgres` user; run with --include-ignored (CI does)"]
fn postgres_going_away_under_traffic_gives_503_and_the_server_recovers_by_itself() {
    let postgres = PrivatePostgres::start()
        .expect("no PostgreSQL server binaries (initdb, pg_ctl) or `postgres` user to run a private cluster");
    let dir = tempfile::tempdir().unwrap();
    configure_gumroad(dir.path());
    let url = postgres.url();
    let server = RunningServer::start_with(dir.path(), &[("TESSERA_DATABASE__URL", &url)]);
    let client = http();
    let health = format!("{}/health", server.public_url);
    let key = mint(&server, dir.path(), 5);
    assert_eq!(sell(&client, &server.public_url, "before-outage").unwrap().0, 200);

    // Traffic through the outage: every sale answered 200 must survive.
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Acknowledged::default()));
    let threads = traffic(&server.public_url, &key, &stop, &acked);
    std::thread::sleep(Duration::from_millis(300));
    postgres.pg_ctl("stop");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(status_of(&client, &health), 503, "health reports the database down");
    let (status, body) = sell(&client, &server.public_url, "during-outage").unwrap();
    assert_eq!(status, 503, "a webhook that cannot be stored is answered 503 so Gumroad retries: {body}");
    let validate =
        client.post(format!("{}/v1/validate", server.public_url)).json(&json!({"license_key": key})).send().unwrap();
    assert_eq!(validate.status(), 503);

    postgres.pg_ctl("start");
    let restarted = Instant::now();
    let deadline = restarted + Duration::from_secs(30);
    while status_of(&client, &health) != 200 {
        assert!(Instant::now() < deadline, "the server did not recover once Postgres was back");
        std::thread::sleep(Duration::from_millis(200));
    }
    let recovered_after = restarted.elapsed();
    assert_eq!(sell(&client, &server.public_url, "after-outage").unwrap().0, 200, "webhooks work again");
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    threads.into_iter().for_each(|thread| thread.join().unwrap());
    let mut acked = std::mem::take(&mut *acked.lock().unwrap());
    acked.sales.push(("before-outage".into(), String::new()));
    acked.sales.push(("after-outage".into(), String::new()));
    assert_nothing_acknowledged_is_lost(&server, dir.path(), &key, &acked);
    eprintln!(
        "Postgres outage: 503s during it, healthy again {:.1} s after restart, {} sales acknowledged, none lost",
        recovered_after.as_secs_f64(),
        acked.sales.len()
    );
}

fn integrity_check(database: &Path) -> String {
    let script = format!(
        "import sqlite3; print(sqlite3.connect('file:{}?mode=ro', uri=True).execute('PRAGMA integrity_check').fetchone()[0])",
        database.display()
    );
    let output = Command::new("python3").args(["-c", &script]).output().unwrap();
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[test]
fn a_read_only_sqlite_database_serves_reads_and_refuses_writes_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let server = RunningServer::start(dir.path());
    let key = mint(&server, dir.path(), 3);
    assert_eq!(server.stop(), Some(0));

    let read_only = RunningServer::start_with(dir.path(), &[("TESSERA_DATABASE__URL", "sqlite://tessera.db?mode=ro")]);
    let client = http();
    let validate =
        client.post(format!("{}/v1/validate", read_only.public_url)).json(&json!({"license_key": key})).send().unwrap();
    assert_eq!(validate.status(), 200, "reads work");
    let activate = client
        .post(format!("{}/v1/activate", read_only.public_url))
        .json(&json!({"license_key": key, "fingerprint": "read-only-machine"}))
        .send()
        .unwrap();
    let status = activate.status().as_u16();
    let body: Value = activate.json().unwrap();
    assert_eq!(status, 503, "a write is refused as unavailable: {body}");
    assert!(body["code"].as_str().is_some() && body["message"].as_str().is_some(), "{body}");
    assert_eq!(status_of(&client, &format!("{}/health", read_only.public_url)), 200, "the server keeps running");
    drop(read_only);
    assert_eq!(integrity_check(&dir.path().join("tessera.db")), "ok");
}

#[test]
#[ignore = "needs root to mount a small tmpfs; run with --include-ignored (CI does)"]
fn a_full_disk_refuses_writes_clearly_and_recovers_without_corruption() {
    let mount = tempfile::tempdir().unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=3m", "tmpfs"])
        .arg(mount.path())
        .output()
        .is_ok_and(|output| output.status.success());
    assert!(mounted, "cannot mount a small tmpfs here (needs root) to fill a disk");
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(mount.path().to_owned());
    let database = mount.path().join("tessera.db");
    let url = format!("sqlite://{}?mode=rwc", database.display());
    let dir = tempfile::tempdir().unwrap();
    let server = RunningServer::start_with(dir.path(), &[("TESSERA_DATABASE__URL", &url)]);
    let key = mint(&server, dir.path(), 100_000);

    // Fill what is left of the disk, leaving the database no room to grow.
    let filler = mount.path().join("filler");
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=64k", "count=1000"])
        .arg(format!("of={}", filler.display()))
        .output();
    let client = http();
    let mut refused = None;
    for n in 0..400 {
        let response = client
            .post(format!("{}/v1/activate", server.public_url))
            .json(&json!({"license_key": key, "fingerprint": format!("full-disk-{n}-{}", "x".repeat(200))}))
            .send()
            .unwrap();
        if response.status() != 200 {
            refused = Some((response.status().as_u16(), response.json::<Value>().unwrap()));
            break;
        }
    }
    let (status, body) = refused.expect("a write fails once the disk is full");
    assert_eq!(status, 503, "a full disk is a temporary refusal (a webhook is retried): {body}");
    assert!(body["code"].as_str().is_some(), "{body}");
    let validate =
        client.post(format!("{}/v1/validate", server.public_url)).json(&json!({"license_key": key})).send().unwrap();
    assert_eq!(validate.status(), 200, "reads still work on a full disk");

    std::fs::remove_file(&filler).unwrap();
    let after = client
        .post(format!("{}/v1/activate", server.public_url))
        .json(&json!({"license_key": key, "fingerprint": "after-space-is-freed"}))
        .send()
        .unwrap();
    assert_eq!(after.status(), 200, "writes work again once there is room");
    assert_eq!(server.stop(), Some(0));
    assert_eq!(integrity_check(&database), "ok");
    eprintln!("full disk: writes answered {status} {}, reads 200, recovered, integrity ok", body["code"]);
}
