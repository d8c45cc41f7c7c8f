//! `tessera release …`: create a release, upload its files (streamed from
//! disk with a progress bar, sent again on a dropped connection or a 5xx:
//! the server replaces a file of the same name, so a retry is safe),
//! publish, yank, list, show.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use super::{page_params, print_page_or_json, value_name, Session};
use crate::admin_api::{NewReleaseRequest, ReleaseFilters, UploadParams};
use crate::admin_client::{AdminClient, CliError};
use crate::output;

/// How many times an upload is tried before the CLI gives up.
const UPLOAD_ATTEMPTS: u32 = 4;

#[derive(Clone, Copy, ValueEnum)]
pub enum ReleaseStatus {
    Draft,
    Published,
    Yanked,
}

#[derive(Args)]
pub struct ReleaseArgs {
    #[command(subcommand)]
    command: ReleaseCommand,
}

#[derive(Subcommand)]
enum ReleaseCommand {
    /// Create a release (a draft until published).
    Create {
        #[arg(long)]
        product: String,
        /// Semantic version: 1.4.0, 2.0.0-beta.3.
        #[arg(long)]
        version: String,
        /// Default stable.
        #[arg(long)]
        channel: Option<String>,
        #[arg(long, conflicts_with = "notes_file")]
        notes: Option<String>,
        /// Release notes from a file (Markdown or plain text).
        #[arg(long)]
        notes_file: Option<PathBuf>,
    },
    /// Upload a file of a draft release, streamed from disk (any size).
    Upload {
        release_id: String,
        file: PathBuf,
        /// The name buyers download it as (default: the file's name).
        #[arg(long)]
        name: Option<String>,
        /// windows, macos, linux, … (default any).
        #[arg(long)]
        platform: Option<String>,
        /// x86_64, aarch64, universal, … (default any).
        #[arg(long)]
        arch: Option<String>,
        /// The updater's own signature file (Tauri's .sig), served in the Tauri feed.
        #[arg(long)]
        updater_signature_file: Option<PathBuf>,
    },
    /// Publish a draft: from now on it is offered to the licenses it is for.
    Publish { release_id: String },
    /// Yank a release: gone from every feed; its download links stop working.
    Yank { release_id: String },
    /// Releases, newest first.
    List {
        #[arg(long)]
        product: Option<String>,
        #[arg(long)]
        channel: Option<String>,
        #[arg(long, value_enum)]
        status: Option<ReleaseStatus>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        cursor: Option<String>,
    },
    /// One release with its files.
    Show { release_id: String },
}

fn print_release(release: &serde_json::Value, json_output: bool) {
    if json_output {
        output::print_json(release);
    } else {
        output::print_release(release);
    }
}

fn read_local(path: &Path) -> Result<String, CliError> {
    std::fs::read_to_string(path)
        .map(|text| text.trim().to_owned())
        .map_err(|error| CliError::Local(format!("cannot read {}: {error}", path.display())))
}

impl ReleaseArgs {
    pub fn run(self, session: &Session) -> Result<(), CliError> {
        let json_output = session.json;
        match self.command {
            ReleaseCommand::Create { product, version, channel, notes, notes_file } => {
                let notes = match notes_file {
                    Some(path) => Some(read_local(&path)?),
                    None => notes,
                };
                let request = NewReleaseRequest { product, version, channel, notes };
                print_release(&session.client()?.create_release(&request)?, json_output);
            }
            ReleaseCommand::Upload { release_id, file, name, platform, arch, updater_signature_file } => {
                let name = match name {
                    Some(name) => name,
                    None => file
                        .file_name()
                        .and_then(|name| name.to_str())
                        .ok_or_else(|| CliError::Invalid(format!("{} has no file name; pass --name", file.display())))?
                        .to_owned(),
                };
                let updater_signature = updater_signature_file.as_deref().map(read_local).transpose()?;
                let params = UploadParams { platform, arch, updater_signature };
                let artifact = upload(&session.client()?, &release_id, &file, &name, &params, json_output)?;
                if json_output {
                    output::print_json(&artifact);
                } else {
                    output::print_artifacts(&[artifact]);
                }
            }
            ReleaseCommand::Publish { release_id } => {
                print_release(&session.client()?.publish_release(&release_id)?, json_output);
            }
            ReleaseCommand::Yank { release_id } => {
                print_release(&session.client()?.yank_release(&release_id)?, json_output);
            }
            ReleaseCommand::List { product, channel, status, limit, cursor } => {
                let filters = ReleaseFilters { product, channel, status: status.map(value_name) };
                let page = session.client()?.releases(&filters, &page_params(limit, cursor))?;
                print_page_or_json(&page, json_output, output::print_releases);
            }
            ReleaseCommand::Show { release_id } => {
                print_release(&session.client()?.release(&release_id)?, json_output);
            }
        }
        Ok(())
    }
}

/// A file read for an upload, advancing the progress bar as it goes.
struct Counted {
    file: std::fs::File,
    bar: ProgressBar,
}

impl Read for Counted {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let count = self.file.read(buffer)?;
        self.bar.inc(count as u64);
        Ok(count)
    }
}

/// Whether another attempt may succeed: the connection broke, or the server
/// (or its storage) failed for now. A 4xx is final.
fn worth_retrying(error: &CliError) -> bool {
    matches!(error, CliError::Unreachable { .. }) || matches!(error, CliError::Server { status, .. } if *status >= 500)
}

fn upload(
    client: &AdminClient,
    release_id: &str,
    path: &Path,
    name: &str,
    params: &UploadParams,
    quiet: bool,
) -> Result<serde_json::Value, CliError> {
    let open = || std::fs::File::open(path).map_err(|error| CliError::Local(format!("{}: {error}", path.display())));
    let size = open()?.metadata().map_err(|error| CliError::Local(error.to_string()))?.len();
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::new(size).with_style(
            ProgressStyle::with_template("{msg} {bar:40} {bytes}/{total_bytes} · {bytes_per_sec} · eta {eta}")
                .expect("a valid template"),
        );
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        bar
    };
    bar.set_message(name.to_owned());
    let mut attempt = 1;
    loop {
        bar.set_position(0);
        let body = reqwest::blocking::Body::sized(Counted { file: open()?, bar: bar.clone() }, size);
        match client.upload_artifact(release_id, name, params, body) {
            Ok(artifact) => {
                bar.finish_and_clear();
                return Ok(artifact);
            }
            Err(error) if attempt < UPLOAD_ATTEMPTS && worth_retrying(&error) => {
                let wait = Duration::from_secs(2u64.pow(attempt));
                bar.suspend(|| eprintln!("upload failed ({error}); trying again in {} s", wait.as_secs()));
                std::thread::sleep(wait);
                attempt += 1;
            }
            Err(error) => {
                bar.abandon();
                return Err(error);
            }
        }
    }
}
