//! Harness for the black-box tests: builds the real `tessera-server` and
//! `tessera` binaries once, runs them in a scratch directory and reads what
//! they print, exactly as an operator would.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// `CARGO_…` variables that configure cargo itself and must reach the inner build.
const CARGO_SETTINGS: &[&str] = &[
    "CARGO_HOME",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_",
    "CARGO_TERM_",
    "CARGO_NET_",
    "CARGO_REGISTRIES_",
    "CARGO_PROFILE_",
    "CARGO_INCREMENTAL",
    "CARGO_HTTP_",
];

pub struct Binaries {
    pub server: PathBuf,
    pub cli: PathBuf,
}

/// Builds both binaries (once per test process). It builds the whole
/// workspace with all targets, which resolves features exactly as `cargo test
/// --workspace` does: after that run the binaries are already built, and only
/// this lookup remains.
pub fn binaries() -> &'static Binaries {
    static BINARIES: OnceLock<Binaries> = OnceLock::new();
    BINARIES.get_or_init(|| {
        let mut build = escargot::CargoBuild::new()
            .manifest_path(Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml"))
            .args(["--workspace", "--all-targets"]);
        // Cargo sets these for this test process; build scripts that watch them
        // would see a changed environment and rebuild, so the outer `cargo
        // test` would rebuild again next time. Give the inner build the
        // caller's environment instead.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy().into_owned();
            let set_by_cargo_for_tests = (name.starts_with("CARGO_")
                && !CARGO_SETTINGS.iter().any(|p| name.starts_with(p)))
                || name == "OUT_DIR";
            if set_by_cargo_for_tests {
                build = build.env_remove(name);
            }
        }
        let messages = build.exec().unwrap_or_else(|error| panic!("cargo build: {error}"));
        let (mut server, mut cli) = (None, None);
        for message in messages {
            let message = message.unwrap_or_else(|error| panic!("cargo build: {error}"));
            let Ok(escargot::format::Message::CompilerArtifact(artifact)) = message.decode() else { continue };
            // Not the binary's unit-test harness, which `--all-targets` builds too.
            let is_bin = artifact.target.kind.iter().any(|kind| kind == "bin") && !artifact.profile.test;
            match (is_bin, artifact.target.name.as_ref(), artifact.executable) {
                (true, "tessera-server", Some(path)) => server = Some(path.into_owned()),
                (true, "tessera", Some(path)) => cli = Some(path.into_owned()),
                _ => {}
            }
        }
        Binaries { server: server.expect("cargo built tessera-server"), cli: cli.expect("cargo built tessera") }
    })
}

/// A `tessera-server` process in its own working directory, on free ports,
/// logging JSON. Stopped with SIGTERM when dropped.
pub struct RunningServer {
    child: Child,
    pub public_url: String,
    pub admin_url: String,
    /// What it printed on stdout before it was listening (the one-time admin token).
    pub stdout: Vec<String>,
    /// Log lines so far.
    pub logs: Vec<String>,
    logs_rx: Receiver<String>,
}

const START_TIMEOUT: Duration = Duration::from_secs(60);

impl RunningServer {
    /// Starts the server in `dir` with nothing configured but free ports and JSON logs.
    pub fn start(dir: &Path) -> Self {
        Self::start_with(dir, &[])
    }

    pub fn start_with(dir: &Path, env: &[(&str, &str)]) -> Self {
        Self::start_binary(&binaries().server, dir, env)
    }

    /// Starts `binary` (e.g. a release build) like [`Self::start_with`].
    pub fn start_binary(binary: &Path, dir: &Path, env: &[(&str, &str)]) -> Self {
        let mut child = server_command_of(binary, dir)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tessera-server");
        let stdout_rx = lines_of(child.stdout.take().unwrap());
        let logs_rx = lines_of(child.stderr.take().unwrap());
        let mut logs = Vec::new();
        let deadline = Instant::now() + START_TIMEOUT;
        let listening = loop {
            let line = match logs_rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => line,
                Err(_) => {
                    let status = child.try_wait().ok().flatten();
                    panic!("tessera-server did not start (exit {status:?}); logs:\n{}", logs.join("\n"))
                }
            };
            logs.push(line.clone());
            if let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) {
                if event["message"] == "tessera-server listening" {
                    break event;
                }
            }
        };
        let stdout = stdout_rx.try_iter().collect();
        Self {
            child,
            public_url: listening["public"].as_str().expect("public address").to_owned(),
            admin_url: listening["admin"].as_str().expect("admin address").to_owned(),
            stdout,
            logs,
            logs_rx,
        }
    }

    /// The server's process id (for /proc readings).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then waits for a clean exit; returns the exit code.
    pub fn stop(mut self) -> Option<i32> {
        self.terminate()
    }

    fn terminate(&mut self) -> Option<i32> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return status.code();
        }
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.logs.extend(self.logs_rx.try_iter());
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }

    /// SIGKILL: no shutdown, no flushing; returns once the process is gone.
    pub fn kill_hard(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// All log lines printed so far.
    pub fn logs(&mut self) -> &[String] {
        self.logs.extend(self.logs_rx.try_iter());
        &self.logs
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.terminate();
    }
}

fn lines_of(stream: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Both binaries built with `--release`, for benchmarks (once per process).
pub fn release_binaries() -> &'static Binaries {
    static BINARIES: OnceLock<Binaries> = OnceLock::new();
    BINARIES.get_or_init(|| {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
        let build = |package: &str, bin: &str| {
            escargot::CargoBuild::new()
                .manifest_path(&manifest)
                .package(package)
                .bin(bin)
                .release()
                .run()
                .unwrap_or_else(|error| panic!("cargo build --release {bin}: {error}"))
                .path()
                .to_path_buf()
        };
        Binaries { server: build("tessera-server", "tessera-server"), cli: build("tessera-cli", "tessera") }
    })
}

/// `tessera-server` in `dir` with an environment that has no `TESSERA_`
/// variables of the caller's, free ports and JSON logs.
pub fn server_command(dir: &Path) -> Command {
    server_command_of(&binaries().server, dir)
}

/// [`server_command`] for a given binary (e.g. from [`release_binaries`]).
pub fn server_command_of(binary: &Path, dir: &Path) -> Command {
    let mut command = Command::new(binary);
    command
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("TESSERA_SERVER__PUBLIC_ADDR", "127.0.0.1:0")
        .env("TESSERA_SERVER__ADMIN_ADDR", "127.0.0.1:0")
        .env("TESSERA_LOG__FORMAT", "json")
        // Tests fire bursts from one address; the limits have their own test (rate_limits.rs).
        .env("TESSERA_RATE_LIMITS__ENABLED", "false")
        .env("RUST_LOG", "info");
    command
}

/// Runs `tessera ARGS` in `dir` against `admin_url`, like an operator in the
/// server's directory (the CLI finds `./tessera-admin-token` itself).
pub fn cli(dir: &Path, admin_url: &str, args: &[&str]) -> Output {
    Command::new(&binaries().cli)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("TESSERA_ADMIN_URL", admin_url)
        .args(args)
        .output()
        .expect("run tessera")
}

pub fn stdout_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Fails with everything the command printed unless it exited with `code`.
#[track_caller]
pub fn assert_exit(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "exit status {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        stdout_of(output),
        stderr_of(output)
    );
}

/// Verifies the token in `token_file` with PyJWT (an independent JOSE
/// implementation) against `jwks_url`, expecting header `typ`; returns the
/// claims. Panics when PyJWT is not installed: the tests that call it are
/// `#[ignore]`d, so running them says PyJWT is wanted.
pub fn pyjwt_verify(token_file: &Path, jwks_url: &str, typ: &str) -> serde_json::Value {
    let available = Command::new("python3")
        .args(["-c", "import jwt, cryptography"])
        .output()
        .map(|output| output.status.success())
        .unwrap_or(false);
    assert!(available, "PyJWT is not installed (pip install 'PyJWT[crypto]')");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("interop/verify_with_pyjwt.py");
    let output =
        Command::new("python3").arg(script).arg(token_file).arg(jwks_url).arg("tessera").arg(typ).output().unwrap();
    assert_exit(&output, 0);
    serde_json::from_slice(&output.stdout).expect("the script prints the claims")
}

/// A scratch database on the test Postgres server (`TESSERA_TEST_DATABASE_URL`),
/// named so that the repository tests' clean-up drops it once this process is
/// gone. Panics when `TESSERA_TEST_DATABASE_URL` is not set: the tests that
/// call it are `#[ignore]`d, so running them says Postgres is wanted.
pub fn scratch_postgres_database(purpose: &str) -> String {
    let admin_url = std::env::var("TESSERA_TEST_DATABASE_URL")
        .unwrap_or_else(|_| panic!("{purpose} needs Postgres: set TESSERA_TEST_DATABASE_URL=postgres://…"));
    let name = format!("tessera_test_{}_blackbox_{purpose}", std::process::id());
    for statement in [format!("DROP DATABASE IF EXISTS {name}"), format!("CREATE DATABASE {name}")] {
        let output = Command::new("psql").arg(&admin_url).args(["-qtAc", &statement]).output().expect("run psql");
        assert!(output.status.success(), "psql: {}", String::from_utf8_lossy(&output.stderr));
    }
    let base = admin_url.split('?').next().unwrap();
    format!("{}/{name}", base.rsplit_once('/').unwrap().0)
}

/// Mints a `demo`/`pro` license for Ada with the CLI, on a server started in
/// `dir` (it finds the development admin token there), and returns the key.
pub fn mint_demo_license(server: &RunningServer, dir: &Path) -> String {
    let args = ["--json", "mint", "--product", "demo", "--tier", "pro", "--name", "Ada", "--email", "ada@example.com"];
    let minted = cli(dir, &server.admin_url, &args);
    assert_exit(&minted, 0);
    let minted: serde_json::Value = serde_json::from_slice(&minted.stdout).expect("mint prints JSON");
    minted["license"]["key"].as_str().expect("minted").to_owned()
}

/// Starts two servers on one database that share a signing key and admin
/// token, like two replicas behind a load balancer.
pub fn two_replicas(dirs: [&Path; 2], database_url: &str) -> (RunningServer, RunningServer) {
    let first = RunningServer::start_with(dirs[0], &[("TESSERA_DATABASE__URL", database_url)]);
    for file in ["tessera-dev-key.pem", "tessera-admin-token"] {
        std::fs::copy(dirs[0].join(file), dirs[1].join(file)).unwrap();
    }
    if dirs[0].join("tessera.toml").exists() {
        std::fs::copy(dirs[0].join("tessera.toml"), dirs[1].join("tessera.toml")).unwrap();
    }
    let second = RunningServer::start_with(dirs[1], &[("TESSERA_DATABASE__URL", database_url)]);
    (first, second)
}

/// A local stand-in for Postmark's `POST /email`, as zero2prod does with
/// wiremock: it records every request and answers from a script (status and
/// body), then with success. One request per connection (`Connection: close`).
pub struct FakePostmark {
    pub url: String,
    requests: std::sync::Arc<std::sync::Mutex<Vec<RecordedRequest>>>,
    script: std::sync::Arc<std::sync::Mutex<std::collections::VecDeque<(u16, String)>>>,
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub path: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: serde_json::Value,
}

impl RecordedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }
}

impl FakePostmark {
    /// Listens on a free port.
    pub fn start() -> Self {
        Self::start_on(std::net::TcpListener::bind("127.0.0.1:0").expect("bind the fake Postmark"))
    }

    /// Listens on `port` (e.g. one the server was told about while nothing listened there).
    pub fn start_on_port(port: u16) -> Self {
        Self::start_on(std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind the fake Postmark"))
    }

    fn start_on(listener: std::net::TcpListener) -> Self {
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let script = std::sync::Arc::new(std::sync::Mutex::new(std::collections::VecDeque::new()));
        let (recorded, answers) = (requests.clone(), script.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let (recorded, answers) = (recorded.clone(), answers.clone());
                std::thread::spawn(move || serve_one(stream, &recorded, &answers));
            }
        });
        Self { url, requests, script }
    }

    /// The next requests get these answers, in order.
    pub fn answer_next(&self, answers: &[(u16, &str)]) {
        self.script.lock().unwrap().extend(answers.iter().map(|(status, body)| (*status, body.to_string())));
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.requests.lock().unwrap().clone()
    }

    /// Waits up to `timeout` until `count` requests arrived; returns them.
    pub fn wait_for(&self, count: usize, timeout: Duration) -> Vec<RecordedRequest> {
        let deadline = Instant::now() + timeout;
        while self.requests().len() < count && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        self.requests()
    }
}

fn serve_one(
    stream: std::net::TcpStream,
    recorded: &std::sync::Mutex<Vec<RecordedRequest>>,
    answers: &std::sync::Mutex<std::collections::VecDeque<(u16, String)>>,
) {
    use std::io::{Read, Write};
    let mut reader = BufReader::new(stream.try_clone().expect("clone the stream"));
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.trim_end().split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let length = headers.iter().find(|(name, _)| name == "content-length").and_then(|(_, v)| v.parse().ok());
    let mut body = vec![0; length.unwrap_or(0)];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or_default().to_owned();
    let json = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    let number = {
        let mut recorded = recorded.lock().unwrap();
        recorded.push(RecordedRequest { path, headers, body: json });
        recorded.len()
    };
    let (status, body) = answers.lock().unwrap().pop_front().unwrap_or_else(|| {
        let ok = serde_json::json!({
            "To": "buyer", "SubmittedAt": "2026-11-23T12:00:00Z", "MessageID": format!("fake-{number}"),
            "ErrorCode": 0, "Message": "OK"
        });
        (200, ok.to_string())
    });
    let mut stream = stream;
    let response = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
}

/// Gumroad's documented sale ping (`adapters/gumroad/tests/fixtures/sale-ping.txt`)
/// form-encoded, with the fields in `overrides` replaced.
pub fn gumroad_ping(overrides: &[(&str, &str)]) -> String {
    let mut form = form_urlencoded::Serializer::new(String::new());
    for line in include_str!("../adapters/gumroad/tests/fixtures/sale-ping.txt").lines() {
        if let Some((key, value)) = line.split_once('=').filter(|_| !line.starts_with('#')) {
            let value = overrides.iter().find(|(name, _)| *name == key).map_or(value, |(_, value)| value);
            form.append_pair(key, value);
        }
    }
    form.finish()
}

/// [`gumroad_ping`] of a sale with its own `sale_id`.
pub fn gumroad_sale_ping(sale_id: &str) -> String {
    gumroad_ping(&[("sale_id", sale_id)])
}
