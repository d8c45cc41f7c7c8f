//! `tessera-loadgen`: the load benchmark. Starts a `tessera-server` (normally a
//! release build) on loopback with rate limits off, then for each workload and
//! connection count runs a closed loop for a fixed time and reports req/s,
//! p50/p99/max latency, answers by status and the server's RSS; writes the
//! table as JSON too.
//!
//! ```sh
//! bench/load.sh                      # release build, SQLite and Postgres, 1 and 64 connections
//! tessera-loadgen --server target/release/tessera-server --database sqlite --seconds 10
//! ```
//!
//! Workloads: `validate` (one activated machine asks again and again),
//! `activate` (every request a new machine of a 100,000-seat license),
//! `heartbeat` (each connection renews its own machine's lease), `webhook`
//! (Gumroad sale pings, each a new sale: a license minted and an email queued)
//! and `webhook-lemonsqueezy`, `-paddle`, `-stripe`, `-polar` (each a new
//! signed sale from that storefront; Paddle's and Stripe's ask a local
//! stand-in for their API, as they ask the real one).

mod peer;
mod storefronts;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::{json, Value};

const GUMROAD_SECRET: &str = "loadgen-gumroad-secret-0123456789";
const GUMROAD_PRODUCT: &str = "32-nPAicqbLj8B_WswVlMw==";
const WORKLOADS: [&str; 8] = [
    "validate",
    "activate",
    "heartbeat",
    "webhook",
    "webhook-lemonsqueezy",
    "webhook-paddle",
    "webhook-stripe",
    "webhook-polar",
];

#[derive(Parser)]
#[command(name = "tessera-loadgen", about = "Load benchmark of a tessera-server on loopback")]
pub(crate) struct Args {
    /// The server binary to start (use a release build for numbers).
    #[arg(long, default_value = "target/release/tessera-server")]
    server: PathBuf,
    /// `sqlite` (a fresh file) or a `postgres://…` URL of an empty database.
    #[arg(long, default_value = "sqlite")]
    database: String,
    /// Seconds per run.
    #[arg(long, default_value_t = 10.0)]
    pub(crate) seconds: f64,
    /// Connection counts to run each workload with.
    #[arg(long, value_delimiter = ',', default_value = "1,64")]
    pub(crate) connections: Vec<usize>,
    /// Workloads to run.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "validate,activate,heartbeat,webhook,webhook-lemonsqueezy,webhook-paddle,webhook-stripe,webhook-polar"
    )]
    workloads: Vec<String>,
    /// SQLite's `[database] sqlite_synchronous`: `full` (the durable default) or `normal`.
    #[arg(long, default_value = "full")]
    sqlite_synchronous: String,
    /// Licenses the `activate` connections spread over (1: all on one license).
    #[arg(long, default_value_t = 1)]
    licenses: usize,
    /// Where to write the JSON results.
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
    /// Another server instead (`bench/peers.sh`): POST to this URL, with
    /// `--peer-body` as the body; no tessera-server is started.
    #[arg(long, requires = "peer_body")]
    peer_url: Option<String>,
    /// The JSON body for `--peer-url`; `{conn}` and `{n}` become the
    /// connection's index and its request count (a new machine per request).
    #[arg(long)]
    peer_body: Option<String>,
    /// The peer server's process, for its CPU and RSS.
    #[arg(long)]
    peer_pid: Option<u32>,
    /// The name of the row printed for `--peer-url`.
    #[arg(long, default_value = "peer")]
    peer_name: String,
}

/// A running server and what it takes to talk to it.
struct Server {
    child: Child,
    public: String,
    admin: String,
    admin_token: String,
    ready: Duration,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU seconds (user + system) a process has used so far.
pub(crate) fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let ticks = |index: usize| fields.get(index).and_then(|field| field.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

fn start_server(binary: &Path, database: &str, sqlite_synchronous: &str, api_url: &str) -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = if database == "sqlite" { "sqlite://tessera.db?mode=rwc".to_owned() } else { database.to_owned() };
    let config = format!(
        r#"
[database]
url = "{url}"
sqlite_synchronous = "{sqlite_synchronous}"
[rate_limits]
enabled = false
[log]
format = "json"
[[products]]
slug = "bench"
name = "Bench"
key_prefix = "BENCH"
[products.tiers.big]
features = ["export"]
seats = 100000
[storefronts.gumroad]
secret = "{GUMROAD_SECRET}"
[storefronts.gumroad.products."{GUMROAD_PRODUCT}"]
product = "bench"
tier = "big"
# The production mail path: Postmark's API (a local stand-in), not .eml files.
[mail]
provider = "postmark"
from = "Bench <bench@example.com>"
[mail.postmark]
token = "loadgen-postmark-token"
base_url = "{api_url}"
{storefronts}"#,
        storefronts = storefronts::config(api_url)
    );
    std::fs::write(dir.path().join("tessera.toml"), config).expect("write tessera.toml");
    let binary = binary.canonicalize().unwrap_or_else(|error| panic!("{}: {error}", binary.display()));
    let started = Instant::now();
    let mut child = Command::new(&binary)
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("TESSERA_SERVER__PUBLIC_ADDR", "127.0.0.1:0")
        .env("TESSERA_SERVER__ADMIN_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "warn,tessera_server=info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("start {}: {error}", binary.display()));
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let listening = loop {
        let line = lines.next().expect("the server exited before listening").expect("read the log");
        if let Ok(event) = serde_json::from_str::<Value>(&line) {
            if event["message"] == "tessera-server listening" {
                break event;
            }
        }
    };
    let ready = started.elapsed();
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    let admin_token = std::fs::read_to_string(dir.path().join("tessera-admin-token")).expect("admin token");
    Server {
        child,
        public: listening["public"].as_str().expect("public address").to_owned(),
        admin: listening["admin"].as_str().expect("admin address").to_owned(),
        admin_token: admin_token.trim().to_owned(),
        ready,
        _dir: dir,
    }
}

pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("HTTP client")
}

async fn mint(http: &reqwest::Client, server: &Server) -> String {
    let answer: Value = http
        .post(format!("{}/admin/v1/licenses", server.admin))
        .bearer_auth(&server.admin_token)
        .json(&json!({"product": "bench", "tier": "big", "name": "Load Test", "email": "load@example.com"}))
        .send()
        .await
        .expect("mint")
        .json()
        .await
        .expect("mint answer");
    answer["license"]["key"].as_str().expect("a minted key").to_owned()
}

async fn activate(http: &reqwest::Client, server: &Server, key: &str, fingerprint: &str) -> String {
    let answer: Value = http
        .post(format!("{}/v1/activate", server.public))
        .json(&json!({"license_key": key, "fingerprint": fingerprint}))
        .send()
        .await
        .expect("activate")
        .json()
        .await
        .expect("activate answer");
    answer["lease"].as_str().unwrap_or_else(|| panic!("no lease: {answer}")).to_owned()
}

fn sale_ping(sale_id: &str) -> String {
    let mut form = form_urlencoded::Serializer::new(String::new());
    for line in include_str!("../../../adapters/gumroad/tests/fixtures/sale-ping.txt").lines() {
        if let Some((key, value)) = line.split_once('=').filter(|_| !line.starts_with('#')) {
            form.append_pair(key, if key == "sale_id" { sale_id } else { value });
        }
    }
    form.finish()
}

/// What one connection sends next.
#[derive(Clone)]
enum Load {
    Validate {
        key: String,
        fingerprint: String,
    },
    /// Connections spread over these licenses (one: they all contend for one license row).
    Activate {
        keys: Arc<Vec<String>>,
    },
    Heartbeat {
        leases: Arc<Vec<(String, String)>>,
    },
    Webhook,
    Storefront {
        name: &'static str,
        sales: Arc<storefronts::Sales>,
    },
}

#[derive(Default)]
pub(crate) struct Tally {
    latencies_us: Vec<u32>,
    statuses: BTreeMap<String, u64>,
}

impl Tally {
    /// Sends `request` and counts its answer, named by `name_answer` (from
    /// its status and body), and how long it took.
    pub(crate) async fn send(
        &mut self,
        request: reqwest::RequestBuilder,
        name_answer: impl FnOnce(String, &[u8]) -> String,
    ) {
        let started = Instant::now();
        let status = match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16().to_string();
                let body = response.bytes().await.unwrap_or_default();
                name_answer(status, &body)
            }
            Err(error) if error.is_timeout() => "timeout".to_owned(),
            Err(_) => "connection error".to_owned(),
        };
        self.latencies_us.push(u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX));
        *self.statuses.entry(status).or_default() += 1;
    }
}

/// Runs so far: a run's sale ids start with its number, so no run repeats an
/// earlier run's sale (the answer would be `duplicate`, not a new sale).
static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

async fn connection(
    http: reqwest::Client,
    public: String,
    load: Load,
    (run, index): (u64, usize),
    deadline: Instant,
) -> Tally {
    let mut tally = Tally::default();
    let mut n = 0u64;
    // Built once: the generator's own work per request should stay small.
    let url = match &load {
        Load::Validate { .. } => format!("{public}/v1/validate"),
        Load::Activate { .. } => format!("{public}/v1/activate"),
        Load::Heartbeat { .. } => format!("{public}/v1/heartbeat"),
        Load::Webhook => format!("{public}/webhooks/gumroad?secret={GUMROAD_SECRET}"),
        Load::Storefront { name, .. } => format!("{public}/webhooks/{name}"),
    };
    while Instant::now() < deadline {
        n += 1;
        let request = match &load {
            Load::Validate { key, fingerprint } => {
                http.post(&url).json(&json!({"license_key": key, "fingerprint": fingerprint}))
            }
            Load::Activate { keys } => http
                .post(&url)
                .json(&json!({"license_key": keys[index % keys.len()], "fingerprint": format!("load-{index}-{n}")})),
            Load::Heartbeat { leases } => {
                let (lease, fingerprint) = &leases[index % leases.len()];
                http.post(&url).json(&json!({"lease": lease, "fingerprint": fingerprint}))
            }
            Load::Webhook => http
                .post(&url)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(sale_ping(&format!("load-sale-{run}-{index}-{n}"))),
            Load::Storefront { name, sales } => {
                let (headers, body) = sales.sale(name, &format!("load{run}x{index}x{n}"));
                let mut request = http.post(&url).header("Content-Type", "application/json");
                for (header, value) in headers {
                    request = request.header(header, value);
                }
                request.body(body)
            }
        };
        tally
            .send(request, |status, body| match &load {
                // A sale counts only when it was processed (a license minted,
                // its email queued), not merely stored.
                Load::Webhook | Load::Storefront { .. } if status == "200" => {
                    let answer: Value = serde_json::from_slice(body).unwrap_or_default();
                    format!("200 {}", answer["status"].as_str().unwrap_or("?"))
                }
                _ => status,
            })
            .await;
    }
    tally
}

/// One run of connections: every latency (sorted), the answers by status,
/// the server's peak RSS, and the cores the server and this generator used.
pub(crate) struct Measured {
    latencies: Vec<u32>,
    pub(crate) statuses: BTreeMap<String, u64>,
    peak_rss_kib: u64,
    elapsed: f64,
    server_cpu: f64,
    own_cpu: f64,
}

/// Starts the connections `spawn` makes (given their deadline), samples the
/// server's RSS (`pid`) until then, and gathers what they counted.
pub(crate) async fn measure(
    pid: Option<u32>,
    seconds: f64,
    spawn: impl FnOnce(Instant) -> Vec<tokio::task::JoinHandle<Tally>>,
) -> Measured {
    let pid_text = pid.map(|pid| pid.to_string());
    let server_cpu = pid_text.as_deref().map_or(0.0, cpu_seconds);
    let own_cpu = cpu_seconds("self");
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds);
    let tasks = spawn(deadline);
    let mut peak_rss_kib = 0;
    while Instant::now() < deadline {
        peak_rss_kib = peak_rss_kib.max(pid.and_then(|pid| proc_status_kib(pid, "VmRSS:")).unwrap_or(0));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut latencies = Vec::new();
    let mut statuses = BTreeMap::<String, u64>::new();
    for task in tasks {
        let tally = task.await.expect("a connection task");
        latencies.extend(tally.latencies_us);
        for (status, count) in tally.statuses {
            *statuses.entry(status).or_default() += count;
        }
    }
    latencies.sort_unstable();
    let elapsed = started.elapsed().as_secs_f64();
    Measured {
        latencies,
        statuses,
        peak_rss_kib,
        elapsed,
        server_cpu: pid_text.as_deref().map_or(0.0, |pid| (cpu_seconds(pid) - server_cpu) / elapsed),
        own_cpu: (cpu_seconds("self") - own_cpu) / elapsed,
    }
}

impl Measured {
    /// The table's row: `errors` of the requests were not answers that did the work.
    pub(crate) fn row(&self, workload: &str, connections: usize, errors: u64) -> Value {
        let (latencies, elapsed) = (&self.latencies, self.elapsed);
        json!({
            "workload": workload,
            "connections": connections,
            "requests": latencies.len(),
            "seconds": (elapsed * 100.0).round() / 100.0,
            "req_per_s": (latencies.len() as f64 / elapsed).round(),
            "ok_per_s": ((latencies.len() as u64).saturating_sub(errors) as f64 / elapsed).round(),
            "p50_ms": percentile(latencies, 0.50),
            "p99_ms": percentile(latencies, 0.99),
            "max_ms": latencies.last().map_or(0.0, |max| f64::from(*max) / 1000.0),
            "errors": errors,
            "statuses": self.statuses,
            "peak_rss_mib": (self.peak_rss_kib as f64 / 1024.0 * 10.0).round() / 10.0,
            // Cores busy on average: the server, and this load generator on the same machine.
            "server_cpu_cores": (self.server_cpu * 100.0).round() / 100.0,
            "loadgen_cpu_cores": (self.own_cpu * 100.0).round() / 100.0,
        })
    }
}

pub(crate) fn percentile(sorted: &[u32], fraction: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 * fraction).ceil() as usize).clamp(1, sorted.len()) - 1;
    f64::from(sorted[index]) / 1000.0
}

async fn run(server: &Server, http: &reqwest::Client, workload: &str, connections: usize, args: &Args) -> Value {
    let seconds = args.seconds;
    let load = match workload {
        "validate" => {
            let key = mint(http, server).await;
            activate(http, server, &key, "load-validate-machine").await;
            Load::Validate { key, fingerprint: "load-validate-machine".into() }
        }
        "activate" => {
            let mut keys = Vec::new();
            for _ in 0..args.licenses.max(1) {
                keys.push(mint(http, server).await);
            }
            Load::Activate { keys: Arc::new(keys) }
        }
        "heartbeat" => {
            let key = mint(http, server).await;
            let mut leases = Vec::new();
            for index in 0..connections {
                let fingerprint = format!("load-heartbeat-{index}");
                leases.push((activate(http, server, &key, &fingerprint).await, fingerprint));
            }
            Load::Heartbeat { leases: Arc::new(leases) }
        }
        "webhook" => Load::Webhook,
        storefront if storefront.starts_with("webhook-") => {
            let name = storefronts::NAMES
                .into_iter()
                .find(|name| storefront.strip_prefix("webhook-") == Some(*name))
                .unwrap_or_else(|| panic!("unknown workload {storefront}"));
            Load::Storefront { name, sales: Arc::new(storefronts::Sales::new()) }
        }
        other => panic!("unknown workload {other}"),
    };
    let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let measured = measure(Some(server.child.id()), seconds, |deadline| {
        (0..connections)
            .map(|index| {
                tokio::spawn(connection(http.clone(), server.public.clone(), load.clone(), (run, index), deadline))
            })
            .collect()
    })
    .await;
    // A storefront delivery that was stored but not processed is an error too.
    let errors: u64 = measured
        .statuses
        .iter()
        .filter(|(status, _)| !status.starts_with('2') || (status.starts_with("200 ") && *status != "200 processed"))
        .map(|(_, count)| count)
        .sum();
    measured.row(workload, connections, errors)
}

/// The table's heading.
pub(crate) fn print_header() {
    println!(
        "{:<20} {:>5} {:>10} {:>9} {:>9} {:>9} {:>7} {:>9} {:>6} {:>6}   statuses",
        "workload", "conns", "req/s", "p50 ms", "p99 ms", "max ms", "errors", "RSS MiB", "srvCPU", "genCPU"
    );
}

pub(crate) fn print_row(row: &Value) {
    println!(
        "{:<20} {:>5} {:>10} {:>9} {:>9} {:>9} {:>7} {:>9} {:>6} {:>6}   {}",
        row["workload"].as_str().unwrap_or_default(),
        row["connections"],
        row["req_per_s"],
        row["p50_ms"],
        row["p99_ms"],
        row["max_ms"],
        row["errors"],
        row["peak_rss_mib"],
        row["server_cpu_cores"],
        row["loadgen_cpu_cores"],
        row["statuses"],
    );
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if let (Some(url), Some(body)) = (&args.peer_url, &args.peer_body) {
        return peer::run(url, body, args.peer_pid, &args.peer_name, &args).await;
    }
    let database_kind = if args.database == "sqlite" { "sqlite" } else { "postgres" };
    let api_url = storefronts::start_fake_api().await;
    let server = start_server(&args.server, &args.database, &args.sqlite_synchronous, &api_url);
    let http = client();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let pid = server.child.id();
    let idle_rss_mib = proc_status_kib(pid, "VmRSS:").unwrap_or(0) as f64 / 1024.0;
    println!(
        "tessera-server {} on {database_kind} (sqlite_synchronous = {}): ready in {:.3} s, idle RSS {idle_rss_mib:.1} MiB",
        args.server.display(),
        args.sqlite_synchronous,
        server.ready.as_secs_f64()
    );
    print_header();
    let mut rows = Vec::new();
    for workload in args.workloads.iter().filter(|workload| WORKLOADS.contains(&workload.as_str())) {
        for &connections in &args.connections {
            let mut row = run(&server, &http, workload, connections.max(1), &args).await;
            if workload == "activate" {
                row["licenses"] = json!(args.licenses.max(1));
            }
            print_row(&row);
            rows.push(row);
        }
    }
    let peak_rss_mib = proc_status_kib(pid, "VmHWM:").unwrap_or(0) as f64 / 1024.0;
    println!("peak RSS over the whole run (VmHWM): {peak_rss_mib:.1} MiB");
    let result = json!({
        "database": database_kind,
        "sqlite_synchronous": (database_kind == "sqlite").then_some(args.sqlite_synchronous.as_str()),
        "server": args.server.display().to_string(),
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "ready_s": server.ready.as_secs_f64(),
        "idle_rss_mib": (idle_rss_mib * 10.0).round() / 10.0,
        "peak_rss_mib": (peak_rss_mib * 10.0).round() / 10.0,
        "runs": rows,
    });
    if let Some(out) = &args.out {
        if let Some(parent) = out.parent() {
            std::fs::create_dir_all(parent).expect("create the results folder");
        }
        std::fs::write(out, serde_json::to_string_pretty(&result).expect("JSON")).expect("write the results");
        println!("results: {}", out.display());
    }
    let failed = rows.iter().any(|row| row["requests"] == 0);
    drop(server); // exit() skips destructors: stop the server first.
    std::process::exit(i32::from(failed));
}
