//! Console page speed: every page of the console against a local release
//! server on SQLite holding 100,000 licenses (imported, issued over the last
//! 90 days) on top of `demo-data`'s history. Prints p50 / p95 / max per page;
//! the target is ≤ 50 ms per page.
//!
//!     cargo bench -p tessera-blackbox --bench console [-- LICENSES]

use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

use tessera_blackbox::{release_binaries, server_command_of, RunningServer};

const TARGET_MS: f64 = 50.0;
const ROUNDS: usize = 40;

fn cookie_of(response: &reqwest::blocking::Response, name: &str) -> String {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter_map(|cookie| cookie.split(';').next()?.strip_prefix(&format!("{name}=")).map(str::to_owned))
        .find(|value| !value.is_empty())
        .unwrap_or_else(|| panic!("no {name} cookie"))
}

fn main() {
    let licenses: usize = std::env::args().skip(1).find_map(|arg| arg.parse().ok()).unwrap_or(100_000);
    let binaries = release_binaries();
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let seeded = server_command_of(&binaries.server, dir).args(["demo-data", "--days", "90"]).output().unwrap();
    assert!(seeded.status.success(), "{}", String::from_utf8_lossy(&seeded.stderr));
    print!("{}", String::from_utf8_lossy(&seeded.stdout));

    let now = time::OffsetDateTime::now_utc();
    let path = dir.join("issued.jsonl");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    for n in 0..licenses {
        let issued = now - time::Duration::minutes((n % (90 * 24 * 60)) as i64);
        let issued = issued.format(&time::format_description::well_known::Rfc3339).unwrap();
        let record = serde_json::json!({
            "license_key": format!("BENCH-PRO-{n:08x}-c0ffee"), "name": format!("Buyer {n}"),
            "email": format!("buyer{n}@example.com"), "tier": "standard", "issued_at": issued,
            "expires_at": "2031-05-13T22:10:27Z",
        });
        writeln!(file, "{record}").unwrap();
    }
    file.flush().unwrap();
    drop(file);

    let server = RunningServer::start_binary(&binaries.server, dir, &[]);
    let imported = Command::new(&binaries.cli)
        .current_dir(dir)
        .env_clear()
        .env("TESSERA_ADMIN_URL", &server.admin_url)
        .args(["--json", "import", "issued.jsonl", "--product", "demo"])
        .output()
        .unwrap();
    assert!(imported.status.success(), "{}", String::from_utf8_lossy(&imported.stderr));
    println!("imported: {}", String::from_utf8_lossy(&imported.stdout).trim());

    let token = std::fs::read_to_string(dir.join("tessera-admin-token")).unwrap();
    let http = reqwest::blocking::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let console = format!("{}/console", server.admin_url);
    let form = http.get(format!("{console}/sign-in")).send().unwrap();
    let form_cookie = cookie_of(&form, "tessera_console_signin");
    let signed_in = http
        .post(format!("{console}/sign-in"))
        .header("Cookie", format!("tessera_console_signin={form_cookie}"))
        .form(&[("csrf", form_cookie.as_str()), ("token", token.trim())])
        .send()
        .unwrap();
    let session = format!("tessera_console={}", cookie_of(&signed_in, "tessera_console"));

    let pages = [
        "/console",
        "/console?days=90",
        "/console/licenses",
        "/console/licenses?q=buyer4242%40example.com",
        "/console/licenses?q=buyer4242",
        "/console/licenses?status=active",
        "/console/licenses?expiring=14",
        "/console/licenses/BENCH-PRO-00001092-C0FFEE",
        "/console/customers",
        "/console/customers?q=buyer777",
        "/console/customers/buyer4242%40example.com",
        "/console/events",
        "/console/deliveries",
        "/console/audit",
        "/console/audit?action=license.imported",
        "/console/flags",
        "/console/keys",
    ];
    println!(
        "{:<46} {:>8} {:>8} {:>8} {:>9}",
        "page (100,000 licenses, SQLite, release)", "p50 ms", "p95 ms", "max ms", "bytes"
    );
    let mut slowest = 0.0f64;
    for page in pages {
        let get = || {
            let started = Instant::now();
            let response = http.get(format!("{}{page}", server.admin_url)).header("Cookie", &session).send().unwrap();
            assert_eq!(response.status(), 200, "{page}");
            let bytes = response.bytes().unwrap().len();
            (started.elapsed(), bytes)
        };
        for _ in 0..3 {
            get();
        }
        let mut times: Vec<Duration> = Vec::with_capacity(ROUNDS);
        let mut bytes = 0;
        for _ in 0..ROUNDS {
            let (elapsed, size) = get();
            times.push(elapsed);
            bytes = size;
        }
        times.sort();
        let ms = |duration: Duration| duration.as_secs_f64() * 1000.0;
        let (p50, p95, max) = (ms(times[ROUNDS / 2]), ms(times[ROUNDS * 95 / 100]), ms(times[ROUNDS - 1]));
        slowest = slowest.max(p95);
        println!("{page:<46} {p50:>8.2} {p95:>8.2} {max:>8.2} {bytes:>9}");
    }
    let verdict = if slowest <= TARGET_MS { "met" } else { "NOT met" };
    println!("slowest p95 {slowest:.2} ms; target ≤ {TARGET_MS} ms per page: {verdict}");
}
