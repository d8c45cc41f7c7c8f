//! [`LogMailer`]: the development default of the [`Mailer`] port. Every email
//! is written as a complete `.eml` file (MIME: text and HTML alternatives plus
//! attachments) into a folder, and its path is logged, so a developer can open
//! exactly what a buyer would receive without any mail account.

use std::io::Write;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use base64::Engine;
use tessera_domain::mail::{Email, Mailer, SendError, Sent};
use time::format_description::well_known::Rfc2822;
use time::OffsetDateTime;

pub struct LogMailer {
    dir: PathBuf,
}

impl LogMailer {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }
}

/// Base64 in 76-character lines, as MIME wants it.
fn base64_lines(bytes: &[u8]) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    encoded
        .as_bytes()
        .chunks(76)
        .map(|line| String::from_utf8_lossy(line).into_owned())
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// A header value that stays ASCII: RFC 2047 encoded-word when needed.
fn header_value(text: &str) -> String {
    if text.is_ascii() && !text.contains(['\r', '\n']) {
        text.to_owned()
    } else {
        format!("=?UTF-8?B?{}?=", base64::engine::general_purpose::STANDARD.encode(text.replace(['\r', '\n'], " ")))
    }
}

/// The email as an RFC 5322 / MIME message.
pub fn render_eml(email: &Email, date: OffsetDateTime) -> String {
    let mixed = format!("tessera-mixed-{}", email.reference);
    let alternative = format!("tessera-alt-{}", email.reference);
    let mut eml = String::new();
    let date = date.format(&Rfc2822).unwrap_or_default();
    for (name, value) in [
        ("From", header_value(&email.from)),
        ("To", header_value(&email.to)),
        ("Subject", header_value(&email.subject)),
        ("Date", date),
        ("X-Tessera-Reference", header_value(&email.reference)),
        ("MIME-Version", "1.0".to_owned()),
        ("Content-Type", format!("multipart/mixed; boundary=\"{mixed}\"")),
    ] {
        eml.push_str(&format!("{name}: {value}\r\n"));
    }
    eml.push_str(&format!("\r\n--{mixed}\r\nContent-Type: multipart/alternative; boundary=\"{alternative}\"\r\n\r\n"));
    for (content_type, body) in [("text/plain", &email.text_body), ("text/html", &email.html_body)] {
        eml.push_str(&format!(
            "--{alternative}\r\nContent-Type: {content_type}; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            base64_lines(body.as_bytes())
        ));
    }
    eml.push_str(&format!("--{alternative}--\r\n"));
    for attachment in &email.attachments {
        let name: String = attachment.name.chars().filter(|c| !matches!(c, '"' | '\\' | '\r' | '\n')).collect();
        eml.push_str(&format!(
            "--{mixed}\r\nContent-Type: {}; name=\"{}\"\r\nContent-Disposition: attachment; filename=\"{}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            attachment.content_type,
            name,
            name,
            base64_lines(&attachment.content)
        ));
    }
    eml.push_str(&format!("--{mixed}--\r\n"));
    eml
}

/// A file name from the reference: letters, digits, `-` and `_` only.
fn file_stem(reference: &str) -> String {
    let stem: String =
        reference.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    if stem.is_empty() {
        "email".to_owned()
    } else {
        stem.chars().take(100).collect()
    }
}

/// Writes `contents` to `dir/name` atomically (temporary file, fsync, rename).
fn write_atomically(dir: &Path, name: &str, contents: &[u8]) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(name);
    let temporary = dir.join(format!(".{name}.tmp"));
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(contents)?;
    file.sync_all()?;
    std::fs::rename(&temporary, &path)?;
    Ok(path)
}

#[async_trait]
impl Mailer for LogMailer {
    async fn send(&self, email: &Email) -> Result<Sent, SendError> {
        let now = OffsetDateTime::now_utc();
        let name = format!("{}-{}.eml", now.unix_timestamp_nanos(), file_stem(&email.reference));
        let eml = render_eml(email, now);
        let dir = self.dir.clone();
        let file_name = name.clone();
        let written = tokio::task::spawn_blocking(move || write_atomically(&dir, &file_name, eml.as_bytes()))
            .await
            .map_err(|error| SendError::Transient(format!("mail writer stopped: {error}")))?;
        match written {
            Ok(path) => {
                tracing::info!(to = %email.to, subject = %email.subject, path = %path.display(), "email written (log mailer)");
                Ok(Sent { provider_message_id: Some(name) })
            }
            Err(error) => Err(SendError::Transient(format!("{}: {error}", self.dir.display()))),
        }
    }
}
