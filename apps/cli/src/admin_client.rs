//! A small blocking client of the admin API that turns the server's
//! `{code, message}` errors into readable CLI errors.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::blocking::{Client, RequestBuilder};
use serde::Serialize;
use serde_json::Value;
use thiserror::Error;

/// Where `tessera-server` writes the development admin token.
const DEV_TOKEN_FILE: &str = "tessera-admin-token";

#[derive(Debug, Error)]
pub enum CliError {
    #[error("{code} ({status}): {message}")]
    Server { status: u16, code: String, message: String },
    #[error("cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("{0}")]
    Local(String),
    #[error("{0}")]
    Invalid(String),
}

impl CliError {
    /// 1: the server or the check said no; 2: the command could not be carried out.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Server { .. } | Self::Invalid(_) => 1,
            Self::Unreachable { .. } | Self::Local(_) => 2,
        }
    }
}

/// Percent-encodes one path segment (license keys are `[A-Z0-9-]`, but input is input).
pub fn path_segment(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (byte as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

pub struct AdminClient {
    http: Client,
    base: String,
    token: String,
}

impl AdminClient {
    pub fn new(url: &str, token: Option<String>, token_file: Option<PathBuf>) -> Result<Self, CliError> {
        let token = match (token, token_file) {
            (Some(token), _) => token,
            (None, Some(path)) => read_token(&path)?,
            (None, None) if std::path::Path::new(DEV_TOKEN_FILE).exists() => read_token(DEV_TOKEN_FILE.as_ref())?,
            (None, None) => {
                return Err(CliError::Local(
                    "no admin token: pass --token-file FILE (or set TESSERA_ADMIN_TOKEN_FILE)".into(),
                ))
            }
        };
        let http = Client::builder()
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("tessera-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| CliError::Local(error.to_string()))?;
        Ok(Self { http, base: url.trim_end_matches('/').to_owned(), token })
    }

    /// The raw calls; the typed operations are in `admin_api`.
    pub fn get(&self, path: &str) -> Result<Value, CliError> {
        self.send(self.http.get(format!("{}{path}", self.base)))
    }

    /// A GET of one page of a list: the filters that are set, then the page.
    pub fn list(&self, path: &str, filters: &impl Serialize, page: &impl Serialize) -> Result<Value, CliError> {
        self.send(self.http.get(format!("{}{path}", self.base)).query(filters).query(page))
    }

    pub fn post(&self, path: &str, body: &Value) -> Result<Value, CliError> {
        let request = self.http.post(format!("{}{path}", self.base));
        let request = if body.is_null() { request } else { request.json(body) };
        self.send(request)
    }

    pub fn patch(&self, path: &str, body: &Value) -> Result<Value, CliError> {
        self.send(self.http.patch(format!("{}{path}", self.base)).json(body))
    }

    /// A POST with one extra header (the mint's `Idempotency-Key`).
    pub fn post_with(&self, path: &str, body: &Value, header: Option<(&str, &str)>) -> Result<Value, CliError> {
        let mut request = self.http.post(format!("{}{path}", self.base)).json(body);
        if let Some((name, value)) = header {
            request = request.header(name, value);
        }
        self.send(request)
    }

    /// A PUT of a raw body streamed from a reader (an uploaded file): no
    /// overall timeout, since a large file over a slow tunnel takes what it takes.
    pub fn put_stream(
        &self,
        path: &str,
        query: &impl Serialize,
        body: reqwest::blocking::Body,
    ) -> Result<Value, CliError> {
        let request = self
            .http
            .put(format!("{}{path}", self.base))
            .query(query)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .timeout(Duration::from_secs(24 * 3600))
            .body(body);
        self.send(request)
    }

    fn send(&self, request: RequestBuilder) -> Result<Value, CliError> {
        let response = request
            .bearer_auth(&self.token)
            .send()
            .map_err(|error| CliError::Unreachable { url: self.base.clone(), reason: root_cause(&error) })?;
        let status = response.status();
        let text = response
            .text()
            .map_err(|error| CliError::Unreachable { url: self.base.clone(), reason: root_cause(&error) })?;
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if status.is_success() {
            return Ok(body);
        }
        let field = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_owned);
        Err(CliError::Server {
            status: status.as_u16(),
            code: field("code").unwrap_or_else(|| status.canonical_reason().unwrap_or("ERROR").to_uppercase()),
            message: field("message").unwrap_or_else(|| body.to_string()),
        })
    }
}

fn read_token(path: &std::path::Path) -> Result<String, CliError> {
    std::fs::read_to_string(path)
        .map(|text| text.trim().to_owned())
        .map_err(|error| CliError::Local(format!("cannot read the admin token file {}: {error}", path.display())))
}

fn root_cause(error: &dyn std::error::Error) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}
