//! Load on another license server (`bench/peers.sh`): the same connections,
//! timing and table as Tessera's workloads, on a URL and a JSON body given on
//! the command line.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::{cpu_seconds, percentile, print_row, Args};

async fn connection(http: reqwest::Client, url: String, body: String, index: usize, deadline: Instant) -> crate::Tally {
    let mut tally = crate::Tally::default();
    let body = body.replace("{conn}", &index.to_string());
    let mut n = 0u64;
    while Instant::now() < deadline {
        n += 1;
        let request =
            http.post(&url).header("Content-Type", "application/json").body(body.replace("{n}", &n.to_string()));
        let started = Instant::now();
        let status = match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16().to_string();
                let _ = response.bytes().await;
                status
            }
            Err(error) if error.is_timeout() => "timeout".to_owned(),
            Err(_) => "connection error".to_owned(),
        };
        tally.latencies_us.push(u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX));
        *tally.statuses.entry(status).or_default() += 1;
    }
    tally
}

pub async fn run(url: &str, body: &str, pid: Option<u32>, name: &str, args: &Args) {
    let http = crate::client();
    let pid_text = pid.map(|pid| pid.to_string());
    println!(
        "{:<20} {:>5} {:>10} {:>9} {:>9} {:>9} {:>7} {:>9} {:>6} {:>6}   statuses",
        "workload", "conns", "req/s", "p50 ms", "p99 ms", "max ms", "errors", "RSS MiB", "srvCPU", "genCPU"
    );
    let mut rows = Vec::new();
    for &connections in &args.connections {
        let connections = connections.max(1);
        let server_cpu = pid_text.as_deref().map_or(0.0, cpu_seconds);
        let own_cpu = cpu_seconds("self");
        let started = Instant::now();
        let deadline = started + Duration::from_secs_f64(args.seconds);
        let tasks: Vec<_> = (0..connections)
            .map(|index| tokio::spawn(connection(http.clone(), url.to_owned(), body.to_owned(), index, deadline)))
            .collect();
        let (latencies, statuses, peak_rss_kib) = crate::gather(tasks, pid, deadline).await;
        let elapsed = started.elapsed().as_secs_f64();
        let server_cpu = pid_text.as_deref().map_or(0.0, |pid| (cpu_seconds(pid) - server_cpu) / elapsed);
        let own_cpu = (cpu_seconds("self") - own_cpu) / elapsed;
        let errors: u64 = statuses.iter().filter(|(status, _)| !status.starts_with('2')).map(|(_, count)| count).sum();
        let ok = latencies.len() as u64 - errors;
        let row = json!({
            "workload": name,
            "connections": connections,
            "requests": latencies.len(),
            "seconds": (elapsed * 100.0).round() / 100.0,
            "req_per_s": (latencies.len() as f64 / elapsed).round(),
            // What counts in a comparison: answers that did the work.
            "ok_per_s": (ok as f64 / elapsed).round(),
            "p50_ms": percentile(&latencies, 0.50),
            "p99_ms": percentile(&latencies, 0.99),
            "max_ms": latencies.last().map_or(0.0, |max| f64::from(*max) / 1000.0),
            "errors": errors,
            "statuses": statuses,
            "peak_rss_mib": (peak_rss_kib as f64 / 1024.0 * 10.0).round() / 10.0,
            "server_cpu_cores": (server_cpu * 100.0).round() / 100.0,
            "loadgen_cpu_cores": (own_cpu * 100.0).round() / 100.0,
        });
        print_row(&row);
        rows.push(row);
    }
    if let Some(out) = &args.out {
        let result: Value = json!({ "url": url, "runs": rows });
        std::fs::write(out, serde_json::to_string_pretty(&result).expect("JSON")).expect("write the results");
    }
}
