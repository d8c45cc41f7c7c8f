//! `tessera-server [--config FILE] [serve | migrate | openapi --public|--admin [--yaml] | check-config | healthcheck]`

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::Server;
use tessera_server::bootstrap::{self, StartupError};
use tessera_server::config::Config;
use tessera_server::connections;
use tessera_server::http::{admin_app, public_app, spec};
use tessera_server::telemetry;
use tokio::sync::watch;

#[derive(Parser)]
#[command(name = "tessera-server", version, about = "Tessera license server")]
struct Cli {
    /// Configuration file (default: $TESSERA_CONFIG, else ./tessera.toml if present).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Print an OpenAPI spec; needs no database.
    Openapi {
        #[arg(long, conflicts_with = "admin", required_unless_present = "admin")]
        public: bool,
        #[arg(long)]
        admin: bool,
        #[arg(long)]
        yaml: bool,
    },
    /// Validate the configuration, keys and products, then exit.
    CheckConfig,
    /// Fill the configured database with a made-up history (sales, machines,
    /// failures) to look at in the console. Never on a production database.
    DemoData {
        /// How many days of history, ending today.
        #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u16).range(1..=3650))]
        days: u16,
    },
    /// Exit 0 when the running server's `GET /health` answers 200 (for
    /// container health checks: the image needs no curl).
    Healthcheck {
        /// Default: the configured public listener (0.0.0.0 is asked as 127.0.0.1).
        #[arg(long)]
        addr: Option<std::net::SocketAddr>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Openapi { admin, yaml, .. }) = &cli.command {
        let document = if *admin { spec::admin_spec() } else { spec::public_spec() };
        let spec = if *yaml { spec::to_yaml(&document) } else { spec::to_json(&document) };
        println!("{spec}");
        return ExitCode::SUCCESS;
    }
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(error) => return fail(&error.into()),
    };
    telemetry::init(config.log.format);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => runtime.block_on(serve(config)),
        Command::Migrate => runtime.block_on(async {
            bootstrap::open_database(&config).await?;
            tracing::info!("migrations applied");
            Ok(())
        }),
        Command::CheckConfig => bootstrap::inspect(&config).map(|checked| {
            let products: Vec<_> = checked.catalog.products().map(|product| product.slug.as_str()).collect();
            println!(
                "configuration OK: environment {:?}, signing key `{}`, products {products:?}",
                config.environment,
                checked.keyring.active().kid
            );
        }),
        Command::Healthcheck { addr } => {
            let mut addr = addr.unwrap_or(config.server.public_addr);
            if addr.ip().is_unspecified() {
                addr.set_ip([127, 0, 0, 1].into());
            }
            return match healthcheck(addr) {
                Ok(()) => ExitCode::SUCCESS,
                Err(problem) => {
                    eprintln!("unhealthy: {problem}");
                    ExitCode::FAILURE
                }
            };
        }
        Command::DemoData { days } => {
            if config.environment == tessera_server::config::Environment::Production {
                eprintln!("demo-data refuses a production configuration");
                return ExitCode::FAILURE;
            }
            return match runtime.block_on(tessera_server::demo_data::seed(&config, days)) {
                Ok(summary) => {
                    println!(
                        "demo data: {} licenses, {} machines, {} failed deliveries, {} failed storefront events, {} open flags over {days} days",
                        summary.licenses, summary.machines, summary.failed_deliveries, summary.failed_events, summary.flags
                    );
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("demo-data failed: {error}");
                    ExitCode::FAILURE
                }
            };
        }
        Command::Openapi { .. } => unreachable!("handled before loading the configuration"),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&error),
    }
}

fn fail(error: &StartupError) -> ExitCode {
    eprintln!("tessera-server: {error}");
    ExitCode::from(2)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate.recv() => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

async fn serve(mut config: Config) -> Result<(), StartupError> {
    let checked = bootstrap::check(&config)?;
    if let Some(token) = &checked.admin_token.generated {
        // Printed once, on the run that created it; afterwards it is only in the file.
        println!("Admin token (also in ./{}): {token}", bootstrap::DEV_ADMIN_TOKEN_FILE);
    }
    tracing::info!(environment = ?config.environment, source = %checked.admin_token.origin, kid = %checked.keyring.active().kid, mail = %checked.mailer_description, "admin token, signing key and mailer loaded");
    let database = bootstrap::open_database(&config).await?;

    let bind = |addr: std::net::SocketAddr| async move {
        TcpListener::bind(addr)
            .into_acceptor()
            .await
            .map_err(|error| StartupError::File { path: addr.to_string().into(), error })
    };
    let public = bind(config.server.public_addr).await?;
    let admin = bind(config.server.admin_addr).await?;
    let bound = |acceptor: &poem::listener::TcpAcceptor, configured: std::net::SocketAddr| {
        acceptor.local_addr().first().and_then(|addr| addr.as_socket_addr().copied()).unwrap_or(configured)
    };
    let (public_addr, admin_addr) =
        (bound(&public, config.server.public_addr), bound(&admin, config.server.admin_addr));
    // Links in emails and the portal follow the port really bound unless base_url says otherwise.
    config.server.public_addr = public_addr;
    config.server.base_url = Some(config.server.base_url());
    let state = bootstrap::app_state(&config, checked, database);
    let (public_endpoint, admin_endpoint) = (public_app(state.clone()), admin_app(state.clone()));
    return_freed_memory();
    tracing::info!(public = %format!("http://{public_addr}"), admin = %format!("http://{admin_addr}"), docs = %format!("http://{admin_addr}/docs"), base_url = %config.server.base_url(), "tessera-server listening");

    let mut limits = config.server.connection_limits();
    limits.max_connections = connections::budget_per_listener(limits.max_connections, 2);
    let public = connections::GuardedAcceptor::new(public, limits, "public");
    let admin = connections::GuardedAcceptor::new(admin, limits, "admin");

    let (stop, stopped) = watch::channel(false);
    let worker = tokio::spawn(tessera_server::outbox_worker::run(
        state.outbox.clone(),
        std::time::Duration::from_secs(1),
        stopped.clone(),
    ));
    let wait = |mut stopped: watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let grace = Some(std::time::Duration::from_secs(10));
    let public_server =
        Server::new_with_acceptor(public).run_with_graceful_shutdown(public_endpoint, wait(stopped.clone()), grace);
    let admin_server =
        Server::new_with_acceptor(admin).run_with_graceful_shutdown(admin_endpoint, wait(stopped), grace);
    let signal = async move {
        shutdown_signal().await;
        let _ = stop.send(true);
        Ok::<(), std::io::Error>(())
    };
    tokio::try_join!(public_server, admin_server, signal)
        .map_err(|error| StartupError::File { path: "listener".into(), error })?;
    // A send in flight finishes (or its claim lapses and it is marked interrupted).
    let _ = tokio::time::timeout(std::time::Duration::from_secs(20), worker).await;
    tracing::info!("stopped");
    Ok(())
}

/// Hands the heap that start-up used and freed (migrations, configuration,
/// the OpenAPI documents' building) back to the OS. glibc keeps freed memory
/// for reuse and returns only what sits at the top of its heap: about 2.5 MB
/// of an idle server's 23 MiB, which it would otherwise hold for good.
fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of the allocator; it is
    // safe to call at any time, from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// One `GET /health` over plain HTTP/1.0, with a three-second budget.
fn healthcheck(addr: std::net::SocketAddr) -> Result<(), String> {
    use std::io::{Read, Write};
    let timeout = std::time::Duration::from_secs(3);
    let mut stream =
        std::net::TcpStream::connect_timeout(&addr, timeout).map_err(|error| format!("{addr}: {error}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| e.to_string())?;
    stream.write_all(b"GET /health HTTP/1.0\r\nHost: localhost\r\n\r\n").map_err(|error| error.to_string())?;
    let mut answer = Vec::new();
    stream.take(4096).read_to_end(&mut answer).map_err(|error| error.to_string())?;
    let status_line = String::from_utf8_lossy(&answer).lines().next().unwrap_or_default().to_owned();
    match status_line.split_whitespace().nth(1) {
        Some("200") => Ok(()),
        _ => Err(format!("GET http://{addr}/health answered {status_line:?}")),
    }
}
