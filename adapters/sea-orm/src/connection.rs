use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::inline_reads::InlineReader;
use crate::read_cache::ReadCache;
use crate::sqlite_writes::{WriteError, WriteStatement, WrittenRow};
use sea_orm::sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, SqlxPostgresConnector, SqlxSqliteConnector,
    TransactionTrait,
};
use sea_orm_migration::MigratorTrait;
use tessera_domain::repository::RepositoryError;
use tessera_schema::Migrator;
use thiserror::Error;

/// Pool settings; the defaults suit one server on this repository's 2-core target.
#[derive(Debug, Clone)]
pub struct DatabaseOptions {
    /// Postgres connections (SQLite always has one writer and `sqlite_readers` readers).
    pub max_connections: u32,
    pub sqlite_readers: u32,
    /// How long a caller waits for a connection before the store counts as unavailable.
    pub acquire_timeout: Duration,
    /// How SQLite commits: durable (the default) or faster.
    pub sqlite_durability: SqliteDurability,
}

impl Default for DatabaseOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            sqlite_readers: 4,
            acquire_timeout: Duration::from_secs(5),
            sqlite_durability: SqliteDurability::default(),
        }
    }
}

/// What an acknowledged SQLite commit survives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SqliteDurability {
    /// Every commit is on disk before the store returns, so a power loss or
    /// OS crash loses nothing that was answered 2xx. Done as a group commit:
    /// SQLite commits with `synchronous = NORMAL` and the store then fsyncs
    /// the WAL once for every commit made while the previous fsync ran
    /// ([`WalSync`]), instead of once per commit as `synchronous = FULL` would.
    #[default]
    Full,
    /// `synchronous = NORMAL`: survives a crash of the server, but a power loss
    /// or OS crash can drop the last commits. Faster writes.
    Normal,
}

#[derive(Debug, Error)]
pub enum ConnectError {
    #[error("unsupported database URL `{0}`: use sqlite://… or postgres://…")]
    UnsupportedUrl(String),
    #[error("cannot open the database: {0}")]
    Open(String),
    #[error("cannot apply migrations: {0}")]
    Migrate(String),
}

/// A connected database: a writer and a reader handle. On Postgres both are the
/// same pool. On SQLite all writes go through a single connection, so writers
/// queue in the pool instead of failing with "database is locked", while WAL
/// lets the readers run alongside.
/// Postgres advisory lock key serialising migrations (`tessera` in ASCII).
const MIGRATION_LOCK_ID: i64 = 0x0074_6573_7365_7261;

#[derive(Debug, Clone)]
pub struct Database {
    pub(crate) writer: DatabaseConnection,
    pub(crate) reader: DatabaseConnection,
    /// SQLite files with durable commits: the group fsync of the WAL.
    wal_sync: Option<Arc<WalSync>>,
    /// SQLite files: keeps the background checkpoint running while held.
    _checkpoints: Option<Arc<tokio::sync::watch::Sender<()>>>,
    /// The views validations read, kept between writes.
    pub(crate) views: Arc<ReadCache>,
    /// SQLite files: the hot point reads, run in place (see `inline_reads`).
    pub(crate) inline: Option<Arc<InlineReader>>,
    /// Postgres: keeps the listener for other instances' writes running while held.
    _listener: Option<Arc<tokio::sync::watch::Sender<()>>>,
    /// SQLite: the one-call transactions waiting to be committed together.
    pub(crate) sqlite_writes: Arc<crate::sqlite_writes::SqliteWrites>,
}

/// The Postgres channel every committed write notifies (see [`ReadCache`]).
pub(crate) const CHANGES_CHANNEL: &str = "tessera_changes";

/// Group commit for SQLite. Every write of the store commits on the one writer
/// connection with `synchronous = NORMAL` (in the OS's page cache, ordered:
/// WAL mode never corrupts) and then calls [`WalSync::sync`] before it
/// returns. A sync that *starts* after a commit makes it durable, and so every
/// commit made before it: callers that arrive while an fsync runs share the
/// next one. Writers are serialized anyway, so this turns one fsync per commit
/// into one per wave of concurrent commits. The WAL is opened by path for each
/// fsync (fsync flushes the file, whichever descriptor wrote it), so a WAL that
/// SQLite recreated is the one synced.
#[derive(Debug)]
pub(crate) struct WalSync {
    wal: PathBuf,
    /// Serializes fsyncs; a waiter re-checks `done` when it gets its turn.
    turn: tokio::sync::Mutex<()>,
    /// Fsyncs started and finished, numbered from 1.
    begun: AtomicU64,
    done: AtomicU64,
    /// The WAL's directory is synced once, so the file's creation is durable too.
    directory_synced: AtomicBool,
}

impl WalSync {
    fn new(database_file: PathBuf) -> Self {
        let mut wal = database_file.into_os_string();
        wal.push("-wal");
        Self {
            wal: PathBuf::from(wal),
            turn: tokio::sync::Mutex::new(()),
            begun: AtomicU64::new(0),
            done: AtomicU64::new(0),
            directory_synced: AtomicBool::new(false),
        }
    }

    /// Returns once every commit made before the call is on disk.
    async fn sync(&self) -> std::io::Result<()> {
        let arrived = self.begun.load(Ordering::SeqCst);
        let _turn = self.turn.lock().await;
        // A sync numbered after `arrived` started after this caller's commit.
        if self.done.load(Ordering::SeqCst) > arrived {
            return Ok(());
        }
        let number = self.begun.fetch_add(1, Ordering::SeqCst) + 1;
        let wal = self.wal.clone();
        let directory = (!self.directory_synced.load(Ordering::SeqCst)).then(|| wal.parent().map(PathBuf::from));
        tokio::task::spawn_blocking(move || {
            match std::fs::OpenOptions::new().write(true).open(&wal) {
                Ok(file) => file.sync_data()?,
                // No WAL: everything was checkpointed into the database file,
                // which a checkpoint syncs.
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => return Err(error),
            }
            if let Some(directory) = directory.flatten().filter(|directory| !directory.as_os_str().is_empty()) {
                std::fs::File::open(directory)?.sync_all()?;
            }
            Ok(())
        })
        .await
        .map_err(std::io::Error::other)??;
        self.directory_synced.store(true, Ordering::SeqCst);
        self.done.store(number, Ordering::SeqCst);
        Ok(())
    }
}

impl Database {
    pub fn backend(&self) -> DbBackend {
        self.writer.get_database_backend()
    }

    /// Whether validations' reads are being kept between writes now (on
    /// Postgres: only while the listener for other instances' writes is
    /// connected). For tests.
    #[doc(hidden)]
    pub fn caches_validations(&self) -> bool {
        self.views.enabled()
    }

    /// Commits `txn` and returns once it is durable: every write method of the
    /// store commits through here (or calls [`Self::synced`] after an
    /// autocommit statement), so nothing is acknowledged before it is on disk.
    pub(crate) async fn commit(&self, txn: DatabaseTransaction) -> Result<(), RepositoryError> {
        if self.backend() == DbBackend::Postgres {
            // Delivered to every instance's listener when (and only if) this commits.
            txn.execute_unprepared(&format!("NOTIFY {CHANGES_CHANNEL}"))
                .await
                .map_err(crate::errors::repository_error)?;
        }
        let committed = txn.commit().await.map_err(crate::errors::repository_error);
        // Whatever the answer (a commit can fail after it took effect).
        self.views.invalidate();
        committed?;
        self.durable().await
    }

    /// SQLite: runs `statements` as one transaction — `BEGIN IMMEDIATE`, the
    /// statements, `COMMIT` — on the writer, and returns the rows the last
    /// statement changed (SQLite's `changes()`). Like a commit of a
    /// [`DatabaseTransaction`], the caller then awaits [`Self::synced`].
    ///
    /// Why: the one writer connection is held from `BEGIN` to `COMMIT`, and
    /// every call through sqlx is a hand-off between a tokio thread and the
    /// connection's own; a call per statement made the writer wait on thread
    /// wake-ups more than it worked. A statement that fails stops the job and
    /// its transaction is rolled back before the writer is let go. The work
    /// runs in a task of its own, so a caller that gives up midway (a client
    /// hanging up) never leaves a transaction open.
    pub(crate) async fn sqlite_transaction(&self, statements: Vec<WriteStatement>) -> Result<u64, WriteError> {
        changes(self.sqlite_transaction_then(statements, WriteStatement::text("SELECT changes()")).await?)
    }

    /// [`Self::sqlite_transaction`] for a write that changes nothing the kept
    /// views show (a check-in): they stay as they are.
    pub(crate) async fn sqlite_transaction_keeping_views(
        &self,
        statements: Vec<WriteStatement>,
    ) -> Result<u64, WriteError> {
        changes(self.sqlite_job(statements, WriteStatement::text("SELECT changes()")).await?)
    }

    /// Like [`Self::sqlite_transaction`], and answers the first row `query`
    /// returns, run last inside the transaction (so it sees exactly what the
    /// statements did, and `changes()` there is the last statement's).
    ///
    /// Transactions that arrive while one runs are committed together, each
    /// as if alone (see `sqlite_writes`).
    pub(crate) async fn sqlite_transaction_then(
        &self,
        statements: Vec<WriteStatement>,
        query: WriteStatement,
    ) -> Result<Option<WrittenRow>, WriteError> {
        let result = self.sqlite_job(statements, query).await;
        // Whatever the answer, before the caller can answer anyone.
        self.views.invalidate();
        result
    }

    /// The one-call transaction itself, queued for the writer (see `sqlite_writes`).
    async fn sqlite_job(
        &self,
        statements: Vec<WriteStatement>,
        query: WriteStatement,
    ) -> Result<Option<WrittenRow>, WriteError> {
        let (job, answered) = crate::sqlite_writes::Job::new(statements, query);
        self.sqlite_writes.run(self.writer.get_sqlite_connection_pool(), job);
        answered.await.map_err(|_| WriteError::Stopped)?
    }

    /// Called after every write that did not go through [`Self::commit`] (an
    /// autocommit statement, [`Self::sqlite_transaction`]): tells the read
    /// cache — this instance's and, on Postgres, every other's — and makes the
    /// write durable.
    pub(crate) async fn synced(&self) -> Result<(), RepositoryError> {
        self.views.invalidate();
        if self.backend() == DbBackend::Postgres {
            self.writer
                .execute_unprepared(&format!("NOTIFY {CHANGES_CHANNEL}"))
                .await
                .map_err(crate::errors::repository_error)?;
        }
        self.durable().await
    }

    /// Makes the writer's commits so far durable (SQLite with durable commits;
    /// Postgres and `normal` SQLite need nothing). On its own — without
    /// [`Self::synced`] — only for a write no kept view needs to see.
    pub(crate) async fn durable(&self) -> Result<(), RepositoryError> {
        match &self.wal_sync {
            Some(wal) => wal.sync().await.map_err(RepositoryError::unavailable),
            None => Ok(()),
        }
    }

    /// Applies every pending migration. Safe to call on an up-to-date database.
    ///
    /// On Postgres several servers may start at once: the migration runs in one
    /// transaction holding an advisory lock, so they apply it one after another
    /// (the later ones find nothing to do).
    pub async fn migrate(&self) -> Result<(), ConnectError> {
        let failed = |error: sea_orm::DbErr| ConnectError::Migrate(error.to_string());
        if self.backend() != DbBackend::Postgres {
            Migrator::up(&self.writer, None).await.map_err(failed)?;
            return self.synced().await.map_err(|error| ConnectError::Migrate(error.to_string()));
        }
        let txn = self.writer.begin().await.map_err(failed)?;
        txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})")).await.map_err(failed)?;
        Migrator::up(&txn, None).await.map_err(failed)?;
        txn.commit().await.map_err(failed)
    }

    /// Closes the pools, waiting for connections in use.
    pub async fn close(self) {
        let _ = self.reader.close().await;
        let _ = self.writer.close().await;
    }
}

/// WAL pages after which the writer checkpoints by itself (about 80 MB):
/// normally the background checkpoint keeps the WAL far smaller.
const WRITER_CHECKPOINT_PAGES: u32 = 20_000;
/// How often the background checkpoint runs.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// Copies the WAL into the database file every [`CHECKPOINT_EVERY`] from a
/// reader connection (a passive checkpoint waits for no one and blocks no
/// one), so the writer — which every write queues for — does not stop to
/// checkpoint, and its fsyncs, in the middle of a commit. Runs until the last
/// clone of the [`Database`] holding the returned handle is dropped.
fn checkpoint_in_background(reader: DatabaseConnection) -> Arc<tokio::sync::watch::Sender<()>> {
    let (running, mut stopped) = tokio::sync::watch::channel(());
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(CHECKPOINT_EVERY) => {}
                // The handle was dropped: the database is gone.
                _ = stopped.changed() => return,
            }
            if let Err(error) = reader.execute_unprepared("PRAGMA wal_checkpoint(PASSIVE)").await {
                tracing::warn!(%error, "background WAL checkpoint failed; retrying");
            }
        }
    });
    Arc::new(running)
}

/// Listens on [`CHANGES_CHANNEL`] and empties `views` at every notification.
/// The cache is on only while the listener is connected: a notification sent
/// while it reconnects would be lost, so nothing is kept until it listens
/// again (and what was kept before is dropped then).
/// It has a connection of its own, outside the pool, so it never takes one
/// that requests need.
fn listen_for_changes(options: PgConnectOptions, views: Arc<ReadCache>) -> Arc<tokio::sync::watch::Sender<()>> {
    use sea_orm::sqlx::postgres::PgListener;
    let (running, mut stopped) = tokio::sync::watch::channel(());
    tokio::spawn(async move {
        loop {
            let listening = async {
                // A pool of one, only to reconnect: the listener's connection is its own.
                let pool = PgPoolOptions::new()
                    .max_connections(1)
                    .max_lifetime(None)
                    .idle_timeout(None)
                    .connect_with(options.clone())
                    .await?;
                let mut listener = PgListener::connect_with(&pool).await?;
                listener.ignore_pool_close_event(true);
                listener.listen(CHANGES_CHANNEL).await?;
                views.set_enabled(true);
                loop {
                    // `try_recv` answers `None` when the connection was lost.
                    match listener.try_recv().await? {
                        Some(_) => views.invalidate(),
                        None => return Ok::<(), sea_orm::sqlx::Error>(()),
                    }
                }
            };
            let outcome = tokio::select! {
                outcome = listening => outcome,
                _ = stopped.changed() => return,
            };
            views.set_enabled(false);
            if let Err(error) = outcome {
                tracing::warn!(%error, "listening for other instances' writes failed; validations read the database until it listens again");
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stopped.changed() => return,
            }
        }
    });
    Arc::new(running)
}

/// The connect options of a Postgres URL. On this machine's own Postgres (a
/// loopback address, `localhost` or a Unix socket) TLS is off unless the URL
/// or `PGSSLMODE` asks for it: there it protects nothing, as the traffic never
/// leaves the kernel, and sqlx 0.9.0 (which leaves Nagle's algorithm on) takes
/// about 90 ms to negotiate it, twice stalled by delayed ACKs — per connection.
/// Anywhere else sqlx's default stands: `prefer`, TLS when the server offers it.
fn postgres_options(url: &str) -> Result<PgConnectOptions, sea_orm::sqlx::Error> {
    postgres_options_given(url, std::env::var_os("PGSSLMODE").is_some())
}

fn postgres_options_given(url: &str, env_names_ssl_mode: bool) -> Result<PgConnectOptions, sea_orm::sqlx::Error> {
    let options = PgConnectOptions::from_str(url)?;
    let query = url.split_once('?').map_or("", |(_, query)| query);
    let names_ssl_mode = env_names_ssl_mode
        || query.split('&').any(|pair| matches!(pair.split('=').next(), Some("sslmode" | "ssl-mode")));
    let on_this_machine = options.get_socket().is_some() || is_loopback_host(options.get_host());
    Ok(if on_this_machine && !names_ssl_mode { options.ssl_mode(PgSslMode::Disable) } else { options })
}

fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<std::net::IpAddr>().is_ok_and(|address| address.is_loopback())
}

/// The count a one-call transaction's `SELECT changes()` answered.
fn changes(row: Option<WrittenRow>) -> Result<u64, WriteError> {
    let changed = row.map(|row| row.at::<i64>(0)).transpose()?;
    Ok(changed.and_then(|changed| u64::try_from(changed).ok()).unwrap_or(0))
}

/// A URL without its password, for logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{}://{user}:***@{}", &url[..scheme_end], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

/// Opens `url` (`sqlite://path?mode=rwc`, `sqlite::memory:`, `postgres://…`).
/// Does not migrate: call [`Database::migrate`].
pub async fn connect(url: &str, options: &DatabaseOptions) -> Result<Database, ConnectError> {
    let open = |error: sea_orm::sqlx::Error| ConnectError::Open(format!("{}: {error}", redact_url(url)));
    if url.starts_with("sqlite:") {
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let connect_options = SqliteConnectOptions::from_str(url)
            .map_err(open)?
            .journal_mode(SqliteJournalMode::Wal)
            // Durable commits sync the WAL themselves, once per wave of
            // commits (`WalSync`): an acknowledged sale or activation survives a
            // power loss. Plain NORMAL only survives a crash of the process, so
            // it is the operator's explicit choice.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            // Checkpoints run beside the writer (`checkpoint_in_background`);
            // the writer checkpoints itself only if those fall far behind.
            .pragma("wal_autocheckpoint", WRITER_CHECKPOINT_PAGES.to_string());
        // A connection to a local file does not go stale: no ping (a round
        // trip to the connection's thread) before every use.
        let writer_pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .test_before_acquire(false)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect_options.clone())
            .await
            .map_err(open)?;
        let writer = SqlxSqliteConnector::from_sqlx_sqlite_pool(writer_pool);
        if in_memory {
            // Every connection to `:memory:` is its own database: share the one.
            return Ok(Database {
                reader: writer.clone(),
                writer,
                wal_sync: None,
                _checkpoints: None,
                views: Arc::new(ReadCache::new(true)),
                inline: None,
                _listener: None,
                sqlite_writes: Arc::default(),
            });
        }
        let wal_sync = (options.sqlite_durability == SqliteDurability::Full)
            .then(|| Arc::new(WalSync::new(connect_options.get_filename().to_path_buf())));
        let inline = Some(Arc::new(InlineReader::new(connect_options.get_filename().to_path_buf())));
        let reader_pool = SqlitePoolOptions::new()
            .max_connections(options.sqlite_readers.max(1))
            .test_before_acquire(false)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect_options)
            .await
            .map_err(open)?;
        let reader = SqlxSqliteConnector::from_sqlx_sqlite_pool(reader_pool);
        let checkpoints = checkpoint_in_background(reader.clone());
        // One process owns a SQLite file: its own writes are all there is to notice.
        let views = Arc::new(ReadCache::new(true));
        Ok(Database {
            writer,
            reader,
            wal_sync,
            _checkpoints: Some(checkpoints),
            views,
            inline,
            _listener: None,
            sqlite_writes: Arc::default(),
        })
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let connect_options = postgres_options(url).map_err(open)?;
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .min_connections(1)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect_options.clone())
            .await
            .map_err(open)?;
        // Off until the listener hears every instance's writes.
        let views = Arc::new(ReadCache::new(false));
        let listener = listen_for_changes(connect_options, views.clone());
        let connection = SqlxPostgresConnector::from_sqlx_postgres_pool(pool);
        Ok(Database {
            reader: connection.clone(),
            writer: connection,
            wal_sync: None,
            _checkpoints: None,
            views,
            inline: None,
            _listener: Some(listener),
            sqlite_writes: Arc::default(),
        })
    } else {
        Err(ConnectError::UnsupportedUrl(redact_url(url)))
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectionTrait, Statement};

    use super::*;

    fn ssl_mode_of(url: &str, env_names_ssl_mode: bool) -> PgSslMode {
        postgres_options_given(url, env_names_ssl_mode).expect("a Postgres URL").get_ssl_mode()
    }

    /// The pool's connections to the test server (on loopback) really are
    /// plain: Postgres's own view of them says so.
    #[tokio::test]
    #[ignore = "needs Postgres: set TESSERA_TEST_DATABASE_URL and run with --include-ignored (CI does)"]
    async fn postgres_on_loopback_connections_are_plain() {
        let url = crate::test_support::postgres_test_url();
        assert!(
            !url.contains("sslmode") && is_loopback_host(postgres_options(&url).unwrap().get_host()),
            "the test expects a Postgres on loopback without sslmode: {url}"
        );
        let database = connect(&url, &DatabaseOptions { max_connections: 1, ..Default::default() }).await.unwrap();
        let row = database
            .writer
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT coalesce((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false) AS tls",
            ))
            .await
            .unwrap()
            .expect("a row");
        assert!(!row.try_get::<bool>("", "tls").unwrap());
        database.close().await;
    }

    /// TLS is off for this machine's own Postgres unless asked for, and
    /// sqlx's `prefer` stands for any other host.
    #[test]
    fn postgres_on_loopback_connects_without_tls_unless_asked() {
        for local in [
            "postgres://postgres@127.0.0.1:5432/test",
            "postgres://u:p@localhost/db",
            "postgresql://[::1]:5432/db",
            "postgres://127.0.0.2/db?application_name=tessera",
            "postgres:///db?host=/var/run/postgresql",
        ] {
            assert!(matches!(ssl_mode_of(local, false), PgSslMode::Disable), "{local}");
            assert!(matches!(ssl_mode_of(local, true), PgSslMode::Prefer), "{local} with PGSSLMODE set");
        }
        assert!(matches!(ssl_mode_of("postgres://127.0.0.1/db?sslmode=require", false), PgSslMode::Require));
        assert!(matches!(
            ssl_mode_of("postgres://localhost/db?foo=1&ssl-mode=verify-full", false),
            PgSslMode::VerifyFull
        ));
        for remote in ["postgres://db.example.com/tessera", "postgres://10.0.0.5:5432/tessera"] {
            assert!(matches!(ssl_mode_of(remote, false), PgSslMode::Prefer), "{remote}");
        }
    }

    async fn opened(durability: Option<SqliteDurability>) -> (Database, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("durability.db").display());
        let mut options = DatabaseOptions::default();
        if let Some(durability) = durability {
            options.sqlite_durability = durability;
        }
        (connect(&url, &options).await.expect("open SQLite"), dir)
    }

    async fn synchronous_of(connection: &DatabaseConnection) -> i64 {
        let row = connection
            .query_one_raw(Statement::from_string(DbBackend::Sqlite, "PRAGMA synchronous"))
            .await
            .expect("PRAGMA synchronous")
            .expect("a row");
        row.try_get_by_index::<i64>(0).expect("an integer")
    }

    /// Durable by default: every connection commits with NORMAL (SQLite's
    /// code 1) and the store syncs the WAL itself; `normal` leaves it there.
    #[tokio::test]
    async fn sqlite_commits_durably_unless_told_otherwise() {
        for (durability, synced) in
            [(None, true), (Some(SqliteDurability::Full), true), (Some(SqliteDurability::Normal), false)]
        {
            let (database, dir) = opened(durability).await;
            assert_eq!((synchronous_of(&database.writer).await, synchronous_of(&database.reader).await), (1, 1));
            assert_eq!(database.wal_sync.is_some(), synced, "{durability:?}");
            if let Some(wal) = &database.wal_sync {
                assert_eq!(wal.wal, dir.path().join("durability.db-wal"), "the WAL beside the database file");
            }
        }
    }

    /// Each caller returns only after an fsync that started after it
    /// arrived: callers one after another each get their own; callers that
    /// arrive together share a few.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_is_synced_once_per_wave_of_commits() {
        let (database, _dir) = opened(None).await;
        database.writer.execute_unprepared("CREATE TABLE t (n INTEGER)").await.unwrap();
        let wal = database.wal_sync.clone().unwrap();
        for expected in 1..=3 {
            database.writer.execute_unprepared("INSERT INTO t VALUES (1)").await.unwrap();
            database.synced().await.unwrap();
            assert_eq!(wal.done.load(Ordering::SeqCst), expected, "a caller alone needs a sync of its own");
        }
        let waves: Vec<_> = (0..64)
            .map(|_| {
                let database = database.clone();
                let wal = wal.clone();
                tokio::spawn(async move {
                    database.writer.execute_unprepared("INSERT INTO t VALUES (2)").await.unwrap();
                    let arrived = wal.begun.load(Ordering::SeqCst);
                    database.synced().await.unwrap();
                    // Released by a sync numbered after its arrival: one that began after its commit.
                    assert!(wal.done.load(Ordering::SeqCst) > arrived);
                })
            })
            .collect();
        for wave in waves {
            wave.await.unwrap();
        }
        let syncs = wal.done.load(Ordering::SeqCst) - 3;
        assert!((1..64).contains(&syncs), "64 concurrent commits shared {syncs} fsyncs");
        assert_eq!(wal.begun.load(Ordering::SeqCst), wal.done.load(Ordering::SeqCst));
    }

    /// A one-call transaction is all or nothing: a statement that fails
    /// undoes the ones before it, and the writer is not left inside the
    /// transaction for the next caller.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_one_call_transaction_leaves_nothing_behind() {
        let (database, _dir) = opened(None).await;
        database.writer.execute_unprepared("CREATE TABLE t (n INTEGER PRIMARY KEY)").await.unwrap();
        let insert = |n: i64| WriteStatement::text(format!("INSERT INTO t VALUES ({n})"));
        assert_eq!(database.sqlite_transaction(vec![insert(1), insert(2)]).await.unwrap(), 1);
        let failed = database.sqlite_transaction(vec![insert(3), insert(1)]).await;
        assert!(failed.unwrap_err().unique_violation().is_some(), "a duplicate key fails the batch");
        let delete = WriteStatement::text("DELETE FROM t WHERE n > 100");
        assert_eq!(database.sqlite_transaction(vec![insert(4), delete]).await.unwrap(), 0);
        let count = |sql: &'static str| {
            let database = database.clone();
            async move {
                let row = database.reader.query_one_raw(Statement::from_string(DbBackend::Sqlite, sql)).await;
                row.unwrap().unwrap().try_get_by_index::<i64>(0).unwrap()
            }
        };
        assert_eq!(count("SELECT count(*) FROM t WHERE n = 3").await, 0, "3 was rolled back");
        assert_eq!(count("SELECT count(*) FROM t").await, 3, "1, 2 and 4");
        // The writer is in autocommit mode again: a plain write is visible at once.
        database.writer.execute_unprepared("INSERT INTO t VALUES (5)").await.unwrap();
        assert_eq!(count("SELECT count(*) FROM t").await, 4);
    }

    /// The writer does not checkpoint (until the WAL is huge): the background
    /// task copies the WAL into the database file within a second or so.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_is_checkpointed_beside_the_writer() {
        let (database, dir) = opened(None).await;
        let file = dir.path().join("durability.db");
        database.writer.execute_unprepared("CREATE TABLE t (text TEXT)").await.unwrap();
        let size = || std::fs::metadata(&file).unwrap().len();
        tokio::time::sleep(CHECKPOINT_EVERY * 3).await;
        let before = size();
        for _ in 0..200 {
            database
                .writer
                .execute_unprepared(&format!("INSERT INTO t VALUES ('{}')", "x".repeat(4000)))
                .await
                .unwrap();
        }
        let pragma = Statement::from_string(DbBackend::Sqlite, "PRAGMA wal_autocheckpoint");
        let row = database.writer.query_one_raw(pragma).await.unwrap().unwrap();
        assert_eq!(row.try_get_by_index::<i64>(0).unwrap(), i64::from(WRITER_CHECKPOINT_PAGES));
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while size() <= before + 500_000 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(size() > before + 500_000, "checkpointed into the database file: {} → {}", before, size());
    }
}
