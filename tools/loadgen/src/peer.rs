//! Load on another license server (`bench/peers.sh`): the same connections,
//! timing and table as Tessera's workloads, on a URL and a JSON body given on
//! the command line.

use std::time::Instant;

use serde_json::{json, Value};

use crate::{measure, print_header, print_row, Args, Tally};

async fn connection(http: reqwest::Client, url: String, body: String, index: usize, deadline: Instant) -> Tally {
    let mut tally = Tally::default();
    let body = body.replace("{conn}", &index.to_string());
    let mut n = 0u64;
    while Instant::now() < deadline {
        n += 1;
        let request =
            http.post(&url).header("Content-Type", "application/json").body(body.replace("{n}", &n.to_string()));
        tally.send(request, |status, _| status).await;
    }
    tally
}

pub async fn run(url: &str, body: &str, pid: Option<u32>, name: &str, args: &Args) {
    let http = crate::client();
    print_header();
    let mut rows = Vec::new();
    for &connections in &args.connections {
        let connections = connections.max(1);
        let measured = measure(pid, args.seconds, |deadline| {
            (0..connections)
                .map(|index| tokio::spawn(connection(http.clone(), url.to_owned(), body.to_owned(), index, deadline)))
                .collect()
        })
        .await;
        let errors =
            measured.statuses.iter().filter(|(status, _)| !status.starts_with('2')).map(|(_, count)| count).sum();
        let row = measured.row(name, connections, errors);
        print_row(&row);
        rows.push(row);
    }
    if let Some(out) = &args.out {
        let result: Value = json!({ "url": url, "runs": rows });
        std::fs::write(out, serde_json::to_string_pretty(&result).expect("JSON")).expect("write the results");
    }
}
