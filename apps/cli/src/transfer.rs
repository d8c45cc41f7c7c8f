//! `tessera import` and `tessera export`: the JSONL issuance log sellers keep
//! today (`license_key, name, email, tier, issued_at, expires_at[, blob]`), in
//! and out.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};

use crate::admin_api::{import_record, ImportRequest, LicenseFilters, PageParams};
use crate::admin_client::{AdminClient, CliError};
use crate::output::print_json;

/// Requests stay under the server's 64 KiB body limit.
const BATCH_BYTES: usize = 56 * 1024;
/// And under its per-request record limit.
const BATCH_RECORDS: usize = 1000;

#[derive(Default)]
struct Tally {
    inserted: u64,
    would_insert: u64,
    skipped: u64,
    failures: Vec<Value>,
}

impl Tally {
    fn fail(&mut self, line: u64, key: Option<&str>, error: String) {
        self.failures.push(json!({"line": line, "license_key": key, "error": error}));
    }
}

fn progress(total: Option<u64>, hidden: bool) -> ProgressBar {
    if hidden {
        return ProgressBar::hidden();
    }
    let bar = match total {
        Some(total) => ProgressBar::new(total).with_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} lines · {per_sec} · eta {eta}")
                .expect("a valid template"),
        ),
        None => ProgressBar::new_spinner(),
    };
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    bar
}

fn send(
    client: &AdminClient,
    product: Option<&str>,
    dry_run: bool,
    batch: &mut Vec<Value>,
    tally: &mut Tally,
) -> Result<(), CliError> {
    if batch.is_empty() {
        return Ok(());
    }
    let answer = client.import_licenses(&ImportRequest { product, dry_run, records: std::mem::take(batch) })?;
    for result in answer["results"].as_array().into_iter().flatten() {
        match result["status"].as_str() {
            Some("inserted") => tally.inserted += 1,
            Some("would_insert") => tally.would_insert += 1,
            Some("skipped") => tally.skipped += 1,
            _ => tally.fail(
                result["line"].as_u64().unwrap_or_default(),
                result["license_key"].as_str(),
                result["error"].as_str().unwrap_or("failed").to_owned(),
            ),
        }
    }
    Ok(())
}

/// Imports `file` (`-`: standard input) in batches; a bad line is reported
/// with its number and does not stop the rest.
pub fn import(
    client: &AdminClient,
    file: &Path,
    product: Option<&str>,
    dry_run: bool,
    json_output: bool,
) -> Result<(), CliError> {
    let open = || -> Result<Box<dyn BufRead>, CliError> {
        if file == Path::new("-") {
            return Ok(Box::new(BufReader::new(std::io::stdin())));
        }
        let opened = File::open(file).map_err(|error| CliError::Local(format!("{}: {error}", file.display())))?;
        Ok(Box::new(BufReader::with_capacity(1 << 20, opened)))
    };
    let total = (file != Path::new("-")).then(|| open().map(|reader| reader.lines().count() as u64)).transpose()?;
    let bar = progress(total, json_output);
    let mut tally = Tally::default();
    let (mut batch, mut batch_bytes) = (Vec::new(), 0);
    for (index, line) in open()?.lines().enumerate() {
        let number = index as u64 + 1;
        let text = line.map_err(|error| CliError::Local(format!("{}: line {number}: {error}", file.display())))?;
        bar.inc(1);
        if text.trim().is_empty() {
            continue;
        }
        match import_record(number, &text) {
            Ok(record) => {
                let size = record.to_string().len() + 1;
                if batch_bytes + size > BATCH_BYTES || batch.len() == BATCH_RECORDS {
                    send(client, product, dry_run, &mut batch, &mut tally)?;
                    batch_bytes = 0;
                }
                batch_bytes += size;
                batch.push(record);
            }
            Err(error) => tally.fail(number, None, error),
        }
    }
    send(client, product, dry_run, &mut batch, &mut tally)?;
    bar.finish_and_clear();
    tally.failures.sort_by_key(|failure| failure["line"].as_u64());
    let failed = tally.failures.len();
    if json_output {
        print_json(&json!({
            "dry_run": dry_run, "inserted": tally.inserted, "would_insert": tally.would_insert,
            "skipped": tally.skipped, "failed": failed, "failures": tally.failures,
        }));
    } else {
        for failure in &tally.failures {
            eprintln!("line {}: {}", failure["line"], failure["error"].as_str().unwrap_or_default());
        }
        if dry_run {
            println!(
                "dry run: would insert {}, skip {} (already there), {failed} failed",
                tally.would_insert, tally.skipped
            );
        } else {
            println!("inserted {}, skipped {} (already there), {failed} failed", tally.inserted, tally.skipped);
        }
    }
    match failed {
        0 => Ok(()),
        n => Err(CliError::Invalid(format!(
            "{n} line(s) failed; fix them and run the import again (it skips what is in)"
        ))),
    }
}

/// Writes every license as one JSON line, in the import format plus `product`,
/// `status` and the signed `token`.
pub fn export(client: &AdminClient, filters: &LicenseFilters, out: &mut dyn Write) -> Result<u64, CliError> {
    let mut cursor: Option<String> = None;
    let mut written = 0;
    loop {
        let page = client.licenses(filters, &PageParams { limit: Some(500), cursor: cursor.take() })?;
        for license in page["items"].as_array().into_iter().flatten() {
            let blob =
                license["notes"].as_str().and_then(|notes| notes.strip_prefix("legacy blob: ")).map(str::to_owned);
            let mut line = json!({
                "license_key": license["key"], "name": license["name"], "email": license["email"],
                "tier": license["tier"], "issued_at": license["issued_at"], "expires_at": license["expires_at"],
                "product": license["product"], "status": license["status"], "token": license["token"],
            });
            if let Some(blob) = blob {
                line["blob"] = json!(blob);
            }
            writeln!(out, "{line}").map_err(|error| CliError::Local(error.to_string()))?;
            written += 1;
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return Ok(written),
        }
    }
}
