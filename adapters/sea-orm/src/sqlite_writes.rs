//! Group commit of SQLite's one-call transactions. SQLite has one writer, and
//! every commit appends each page it changed to the WAL: a sale touches a
//! dozen pages (table leaves, the indexes' rightmost leaves, their parents),
//! most of them the same pages the sale before it touched. Committed one by
//! one, a wave of sales writes those shared pages once per sale, and the
//! writer thread spends most of its time in the kernel doing it.
//!
//! Here the one-call transactions that arrive while one is running wait in a
//! queue, and the next run takes all of them as one transaction: `BEGIN
//! IMMEDIATE`, each job's statements and query in turn, `COMMIT`. Each job
//! sees exactly what it would have seen alone after the ones before it, and
//! each caller is answered only after the commit that holds its job (the
//! caller then makes it durable, as before). A caller alone runs at once,
//! with no wait for company.
//!
//! A run holds the writer connection and works on its SQLite handle in place
//! (through rusqlite, on a blocking thread), with bound parameters and
//! statements prepared once per run: sent as SQL text with the values written
//! in, SQLite parsed and compiled every statement of every sale, which was
//! 39% of the writer's time.
//!
//! When a grouped run fails (a job's constraint fires, say), the whole
//! transaction is rolled back and every job of it runs again alone: each
//! caller gets the answer, and the error, its job would have had alone.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sea_orm::sea_query::{QueryStatementWriter, SqliteQueryBuilder, Value};
use sea_orm::sqlx::pool::PoolConnection;
use sea_orm::sqlx::sqlite::SqlitePool;
use sea_orm::sqlx::Sqlite;
use tessera_domain::repository::RepositoryError;
use thiserror::Error;
use tokio::sync::oneshot;

use crate::runs::{Run, Runs};

/// At most this many jobs go into one transaction: enough to take a wave of
/// 64 connections' writes, few enough that one run holds the writer briefly.
const MOST_JOBS_AT_ONCE: usize = 64;

/// Distinct statements kept prepared during a run (a sale has about eight).
const PREPARED_STATEMENTS: usize = 64;

/// One SQL statement with its values bound as parameters, so that its text is
/// the same from call to call and SQLite prepares it once per run.
#[derive(Debug, Clone)]
pub(crate) struct WriteStatement {
    sql: String,
    values: Vec<Value>,
}

impl WriteStatement {
    /// A sea-query statement, built for SQLite with its values as parameters.
    pub(crate) fn of(statement: &impl QueryStatementWriter) -> Self {
        let (sql, values) = statement.build(SqliteQueryBuilder);
        Self { sql, values: values.0 }
    }

    /// SQL text with no parameters.
    pub(crate) fn text(sql: impl Into<String>) -> Self {
        Self { sql: sql.into(), values: Vec::new() }
    }

    fn prepared<'c>(&self, connection: &'c rusqlite::Connection) -> rusqlite::Result<rusqlite::CachedStatement<'c>> {
        let mut statement = connection.prepare_cached(&self.sql)?;
        for (index, value) in self.values.iter().enumerate() {
            statement.raw_bind_parameter(index + 1, Bound(value))?;
        }
        Ok(statement)
    }
}

/// A sea-query value bound as SQLite stores it (what sqlx bound for sea-orm,
/// and what sea-query wrote in when it inlined values); text and bytes are
/// bound in place, not copied.
struct Bound<'a>(&'a Value);

impl rusqlite::ToSql for Bound<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, Value as Owned, ValueRef};
        let integer = |number: Option<i64>| ToSqlOutput::Owned(number.map_or(Owned::Null, Owned::Integer));
        fn borrowed(value: Option<ValueRef<'_>>) -> ToSqlOutput<'_> {
            ToSqlOutput::Borrowed(value.unwrap_or(ValueRef::Null))
        }
        Ok(match self.0 {
            Value::Bool(flag) => integer(flag.map(i64::from)),
            Value::TinyInt(number) => integer(number.map(i64::from)),
            Value::SmallInt(number) => integer(number.map(i64::from)),
            Value::Int(number) => integer(number.map(i64::from)),
            Value::BigInt(number) => integer(*number),
            Value::TinyUnsigned(number) => integer(number.map(i64::from)),
            Value::SmallUnsigned(number) => integer(number.map(i64::from)),
            Value::Unsigned(number) => integer(number.map(i64::from)),
            Value::BigUnsigned(number) => integer(
                number
                    .map(i64::try_from)
                    .transpose()
                    .map_err(|error| rusqlite::Error::ToSqlConversionFailure(Box::new(error)))?,
            ),
            Value::Float(number) => ToSqlOutput::Owned(number.map_or(Owned::Null, |n| Owned::Real(f64::from(n)))),
            Value::Double(number) => ToSqlOutput::Owned(number.map_or(Owned::Null, Owned::Real)),
            Value::String(text) => borrowed(text.as_deref().map(|text| ValueRef::Text(text.as_bytes()))),
            Value::Char(character) => ToSqlOutput::Owned(character.map_or(Owned::Null, |c| Owned::Text(c.to_string()))),
            Value::Bytes(bytes) => borrowed(bytes.as_deref().map(ValueRef::Blob)),
            Value::Json(json) => {
                ToSqlOutput::Owned(json.as_ref().map_or(Owned::Null, |json| Owned::Text(json.to_string())))
            }
            other => {
                return Err(rusqlite::Error::ToSqlConversionFailure(
                    format!("no SQLite value for {other:?} in a one-call transaction").into(),
                ))
            }
        })
    }
}

/// The first row a job's query returned, its values by column.
#[derive(Debug, Clone)]
pub(crate) struct WrittenRow {
    columns: Vec<(String, rusqlite::types::Value)>,
}

impl WrittenRow {
    fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        let statement = row.as_ref();
        let columns = (0..statement.column_count())
            .map(|index| Ok((statement.column_name(index)?.to_owned(), row.get(index)?)))
            .collect::<rusqlite::Result<_>>()?;
        Ok(Self { columns })
    }

    /// The value of column `index`.
    pub(crate) fn at<T: rusqlite::types::FromSql>(&self, index: usize) -> Result<T, WriteError> {
        let (name, value) = self.columns.get(index).ok_or_else(|| WriteError::NoColumn(index.to_string()))?;
        T::column_result(value.into()).map_err(|error| WriteError::Column { column: name.clone(), error })
    }

    /// The value of the column named `name`.
    pub(crate) fn get<T: rusqlite::types::FromSql>(&self, name: &str) -> Result<T, WriteError> {
        let index = self.columns.iter().position(|(column, _)| column == name);
        self.at(index.ok_or_else(|| WriteError::NoColumn(name.to_owned()))?)
    }
}

/// Why a one-call transaction did not commit.
#[derive(Debug, Error)]
pub(crate) enum WriteError {
    /// A statement (or the commit) failed; nothing of the job was kept.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// The writer connection could not be had.
    #[error("the SQLite writer: {0}")]
    Writer(#[source] sea_orm::sqlx::Error),
    #[error("the SQLite write run stopped before this write's turn")]
    Stopped,
    #[error("the query answered no column {0}")]
    NoColumn(String),
    #[error("column {column}: {error}")]
    Column {
        column: String,
        #[source]
        error: rusqlite::types::FromSqlError,
    },
}

impl WriteError {
    /// The message of a unique constraint that failed (`UNIQUE constraint
    /// failed: licenses.idempotency_key`), as sea-orm reports it for sqlx.
    pub(crate) fn unique_violation(&self) -> Option<String> {
        use rusqlite::ffi::{SQLITE_CONSTRAINT_PRIMARYKEY, SQLITE_CONSTRAINT_UNIQUE};
        match self {
            WriteError::Sqlite(rusqlite::Error::SqliteFailure(error, message))
                if matches!(error.extended_code, SQLITE_CONSTRAINT_UNIQUE | SQLITE_CONSTRAINT_PRIMARYKEY) =>
            {
                Some(message.clone().unwrap_or_default())
            }
            _ => None,
        }
    }
}

impl From<WriteError> for RepositoryError {
    /// Unavailable when the store cannot take writes now (no writer, a full
    /// disk, a read-only file, an I/O error), unexpected otherwise.
    fn from(error: WriteError) -> Self {
        use rusqlite::ffi::ErrorCode;
        let unavailable = match &error {
            WriteError::Writer(_) | WriteError::Stopped => true,
            WriteError::Sqlite(rusqlite::Error::SqliteFailure(failure, _)) => {
                matches!(failure.code, ErrorCode::ReadOnly | ErrorCode::SystemIoFailure | ErrorCode::DiskFull)
            }
            _ => false,
        };
        if unavailable {
            RepositoryError::unavailable(error)
        } else {
            RepositoryError::unexpected(error)
        }
    }
}

/// What a job answers: the first row its query returned, if any.
pub(crate) type JobAnswer = Result<Option<WrittenRow>, WriteError>;

/// One caller's transaction: statements then a query, and where the answer goes.
pub(crate) struct Job {
    statements: Vec<WriteStatement>,
    query: WriteStatement,
    answer: oneshot::Sender<JobAnswer>,
}

impl Job {
    pub(crate) fn new(statements: Vec<WriteStatement>, query: WriteStatement) -> (Self, oneshot::Receiver<JobAnswer>) {
        let (answer, answered) = oneshot::channel();
        (Self { statements, query, answer }, answered)
    }

    /// The statements, then the query's first row, on `connection` (inside
    /// the run's transaction).
    fn run_on(&self, connection: &rusqlite::Connection) -> rusqlite::Result<Option<WrittenRow>> {
        for statement in &self.statements {
            statement.prepared(connection)?.raw_execute()?;
        }
        let mut query = self.query.prepared(connection)?;
        let mut rows = query.raw_query();
        rows.next()?.map(WrittenRow::read).transpose()
    }

    /// Answers every job of `jobs` with an error made by `error`.
    fn fail_all(jobs: Vec<Job>, error: impl Fn() -> WriteError) {
        jobs.into_iter().for_each(|job| job.answer(Err(error())));
    }

    fn answer(self, answer: JobAnswer) {
        // The caller may have gone (a client hanging up); the write stands.
        let _ = self.answer.send(answer);
    }
}

/// The run of one-call transactions in progress, if any, and the jobs waiting
/// for it.
#[derive(Debug, Default)]
pub(crate) struct SqliteWrites {
    runs: Arc<Runs<(), Job, MOST_JOBS_AT_ONCE>>,
    /// Transactions begun, grouped or alone (tests read it).
    transactions: Arc<AtomicU64>,
}

impl SqliteWrites {
    /// Runs `job` on the writer `pool`: in the run in progress, or, when there
    /// is none, in a new run started here that keeps going (in a task of its
    /// own) until no job is waiting.
    pub(crate) fn run(self: &Arc<Self>, pool: &SqlitePool, job: Job) {
        if let Some((mut run, first)) = self.runs.join((), job) {
            let (transactions, pool) = (self.transactions.clone(), pool.clone());
            tokio::spawn(async move {
                let mut batch = vec![first];
                while !batch.is_empty() {
                    let connection = match pool.acquire().await {
                        Ok(connection) => connection,
                        Err(error) => {
                            Job::fail_all(batch, || WriteError::Writer(same_acquire_error(&error)));
                            batch = run.next_batch();
                            continue;
                        }
                    };
                    let transactions = transactions.clone();
                    let writing = tokio::task::spawn_blocking(move || {
                        let next = write_while_busy(connection, &mut run, batch, &transactions);
                        (run, next)
                    });
                    match writing.await {
                        Ok((carried_on, next)) => (run, batch) = (carried_on, next),
                        // A panic dropped the run with the jobs: their callers
                        // hear, and so do the ones queued (the run is abandoned).
                        Err(_) => return,
                    }
                }
            });
        }
    }
}

/// How long a run keeps the writer while batches keep coming, before letting
/// the store's other writes (a mail claim, a check-in, an operator's change)
/// have it: taking it again costs a pool acquire, a thread and a lock.
const HOLD_WRITER_FOR: Duration = Duration::from_millis(5);

/// Runs `first`, then the batches that queue meanwhile, on the writer's
/// SQLite handle in place, each as one transaction (or its jobs alone, if
/// that fails), for up to [`HOLD_WRITER_FOR`]; answers the next batch to run
/// (empty: the run is over). Called on a blocking thread.
fn write_while_busy(
    mut connection: PoolConnection<Sqlite>,
    run: &mut Run<(), Job, MOST_JOBS_AT_ONCE>,
    first: Vec<Job>,
    transactions: &AtomicU64,
) -> Vec<Job> {
    let held = Instant::now();
    let runtime = tokio::runtime::Handle::current();
    let mut locked = match runtime.block_on(connection.lock_handle()) {
        Ok(locked) => locked,
        Err(error) => {
            Job::fail_all(first, || WriteError::Writer(same_acquire_error(&error)));
            return run.next_batch();
        }
    };
    // SAFETY: the handle is the writer's open connection, locked for this run
    // (its own thread waits until `locked` is dropped). The rusqlite wrapper
    // does not close it, finalizes its prepared statements when dropped, and
    // is dropped before the lock.
    let opened = unsafe { rusqlite::Connection::from_handle(locked.as_raw_handle().as_ptr()) };
    let (next, broken) = match opened {
        Ok(sqlite) => {
            sqlite.set_prepared_statement_cache_capacity(PREPARED_STATEMENTS);
            let mut batch = first;
            loop {
                let broken = run_jobs(&sqlite, batch, transactions);
                batch = run.next_batch();
                if broken || batch.is_empty() || held.elapsed() >= HOLD_WRITER_FOR {
                    break (batch, broken);
                }
            }
        }
        Err(error) => {
            Job::fail_all(first, || WriteError::Writer(sea_orm::sqlx::Error::Protocol(error.to_string())));
            (run.next_batch(), false)
        }
    };
    drop(locked);
    if broken {
        // A transaction that could not even be rolled back: not reused.
        connection.close_on_drop();
    }
    next
}

/// `jobs` as one transaction, or each alone; whether the connection was left
/// in a transaction it could not roll back.
fn run_jobs(sqlite: &rusqlite::Connection, jobs: Vec<Job>, transactions: &AtomicU64) -> bool {
    if jobs.len() > 1 {
        let together = in_transaction(sqlite, transactions, |sqlite| {
            jobs.iter().map(|job| job.run_on(sqlite)).collect::<rusqlite::Result<Vec<_>>>()
        });
        match together {
            Ok(answers) => {
                for (job, answer) in jobs.into_iter().zip(answers) {
                    job.answer(Ok(answer));
                }
                return false;
            }
            Err(Failed { rolled_back: false, .. }) => {
                Job::fail_all(jobs, || WriteError::Stopped);
                return true;
            }
            // Nothing of the group is kept: each job runs again alone, for
            // the answer it would have had alone.
            Err(Failed { rolled_back: true, .. }) => {}
        }
    }
    let mut jobs = jobs.into_iter();
    while let Some(job) = jobs.next() {
        match in_transaction(sqlite, transactions, |sqlite| job.run_on(sqlite)) {
            Ok(answer) => job.answer(Ok(answer)),
            Err(Failed { error, rolled_back }) => {
                job.answer(Err(error.into()));
                if !rolled_back {
                    Job::fail_all(jobs.collect(), || WriteError::Stopped);
                    return true;
                }
            }
        }
    }
    false
}

/// A transaction that did not commit, and whether it was rolled back.
struct Failed {
    error: rusqlite::Error,
    rolled_back: bool,
}

/// `work` between `BEGIN IMMEDIATE` and `COMMIT`, or rolled back at its
/// first error (or the commit's).
fn in_transaction<T>(
    sqlite: &rusqlite::Connection,
    transactions: &AtomicU64,
    work: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
) -> Result<T, Failed> {
    transactions.fetch_add(1, Ordering::Relaxed);
    let outcome = sqlite.execute_batch("BEGIN IMMEDIATE").and_then(|()| {
        let done = work(sqlite)?;
        sqlite.execute_batch("COMMIT")?;
        Ok(done)
    });
    outcome.map_err(|error| {
        // Still in the transaction unless `BEGIN` itself failed.
        let rolled_back = sqlite.is_autocommit() || sqlite.execute_batch("ROLLBACK").is_ok();
        Failed { error, rolled_back }
    })
}

/// An error like `error` (a failure to acquire the writer), for each job it
/// fails: sqlx errors cannot be cloned.
fn same_acquire_error(error: &sea_orm::sqlx::Error) -> sea_orm::sqlx::Error {
    use sea_orm::sqlx::Error as Sqlx;
    match error {
        Sqlx::PoolTimedOut => Sqlx::PoolTimedOut,
        Sqlx::PoolClosed => Sqlx::PoolClosed,
        other => Sqlx::Io(std::io::Error::other(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sea_orm::ConnectionTrait;

    use super::{WriteError, WriteStatement};
    use crate::{connect, Database, DatabaseOptions};

    async fn database(dir: &std::path::Path) -> Database {
        let url = format!("sqlite://{}?mode=rwc", dir.join("writes.db").display());
        let database = connect(&url, &DatabaseOptions::default()).await.unwrap();
        database.writer.execute_unprepared("CREATE TABLE t (n INTEGER PRIMARY KEY)").await.unwrap();
        database.sqlite_transaction(vec![insert(0)]).await.unwrap();
        database
    }

    /// Transactions begun so far, grouped or alone.
    fn transactions(database: &Database) -> u64 {
        database.sqlite_writes.transactions.load(super::Ordering::Relaxed)
    }

    /// `n` bound as a parameter, as the store's statements are.
    fn insert(n: i64) -> WriteStatement {
        WriteStatement { sql: "INSERT INTO t (n) VALUES (?)".into(), values: vec![n.into()] }
    }

    /// Starts `count` transactions while the writer is held, so that all but
    /// the first queue behind it, then lets them go. Transaction `n` inserts
    /// `n` (or, in `failing`, a row that already exists) and answers the rows
    /// it sees and the rows it changed.
    async fn queued_behind_a_held_writer(
        database: &Database,
        count: i64,
        failing: &[i64],
    ) -> Vec<Result<(i64, i64), WriteError>> {
        let held = database.writer.get_sqlite_connection_pool().acquire().await.unwrap();
        let before = transactions(database);
        let calls: Vec<_> = (1..=count)
            .map(|n| {
                let database = database.clone();
                let statement = if failing.contains(&n) { insert(0) } else { insert(n) };
                tokio::spawn(async move {
                    let query = WriteStatement::text("SELECT (SELECT count(*) FROM t), changes()");
                    let row = database.sqlite_transaction_then(vec![statement], query).await?.expect("a row");
                    Ok::<_, WriteError>((row.at::<i64>(0)?, row.at::<i64>(1)?))
                })
            })
            .collect();
        // Every call has queued (or, the first, is waiting for the writer).
        for _ in 0..200 {
            let queued = database.sqlite_writes.runs.queued(&());
            if queued as i64 == count - 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(transactions(database), before, "none ran yet");
        drop(held);
        let mut answers = Vec::new();
        for call in calls {
            answers.push(call.await.unwrap());
        }
        answers
    }

    #[tokio::test]
    async fn transactions_that_queue_commit_together_each_as_if_alone() {
        let dir = tempfile::tempdir().unwrap();
        let database = database(dir.path()).await;
        let before = transactions(&database);
        let answers = queued_behind_a_held_writer(&database, 40, &[]).await;
        // The first ran alone as soon as the writer was free; the 39 that
        // queued meanwhile went as one transaction.
        assert_eq!(transactions(&database) - before, 2);
        // Each saw what it would have seen alone after those before it: one
        // more row each time, and its own insert as the last change.
        let mut seen: Vec<i64> = answers.iter().map(|answer| answer.as_ref().unwrap().0).collect();
        assert!(answers.iter().all(|answer| answer.as_ref().unwrap().1 == 1), "{answers:?}");
        seen.sort_unstable();
        assert_eq!(seen, (2..=41).collect::<Vec<_>>());
        let rows = database
            .reader
            .query_one_raw(sea_orm::Statement::from_string(sea_orm::DbBackend::Sqlite, "SELECT count(*) AS n FROM t"));
        assert_eq!(rows.await.unwrap().unwrap().try_get::<i64>("", "n").unwrap(), 41);
    }

    #[tokio::test]
    async fn a_transaction_that_fails_in_a_group_fails_alone() {
        let dir = tempfile::tempdir().unwrap();
        let database = database(dir.path()).await;
        let before = transactions(&database);
        let answers = queued_behind_a_held_writer(&database, 30, &[7, 19]).await;
        for (n, answer) in (1..=30).zip(&answers) {
            match answer {
                Err(error) if n == 7 || n == 19 => {
                    assert!(error.unique_violation().is_some(), "{n}: {error}")
                }
                Ok((_, changed)) if n != 7 && n != 19 => assert_eq!(*changed, 1, "{n}"),
                other => panic!("{n}: {other:?}"),
            }
        }
        // The first alone, the group (rolled back), then each of the 29 alone.
        assert_eq!(transactions(&database) - before, 1 + 1 + 29);
        let rows = database
            .reader
            .query_all_raw(sea_orm::Statement::from_string(sea_orm::DbBackend::Sqlite, "SELECT n FROM t ORDER BY n"));
        let kept: Vec<i64> = rows.await.unwrap().iter().map(|row| row.try_get::<i64>("", "n").unwrap()).collect();
        let expected: Vec<i64> = (0..=30).filter(|n| *n != 7 && *n != 19).collect();
        assert_eq!(kept, expected, "every other transaction committed, once");
    }

    /// A run keeps the writer while batches keep coming, but only for
    /// `HOLD_WRITER_FOR` at a time: a write through the pool (a mail claim,
    /// an operator's change) gets its turn long before a deep queue drains.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_deep_queue_lets_other_writes_in() {
        let dir = tempfile::tempdir().unwrap();
        let database = database(dir.path()).await;
        let held = database.writer.get_sqlite_connection_pool().acquire().await.unwrap();
        let before = transactions(&database);
        const QUEUED: i64 = 12_000;
        let calls: Vec<_> = (1..=QUEUED)
            .map(|n| {
                let database = database.clone();
                tokio::spawn(async move { database.sqlite_transaction(vec![insert(n)]).await.unwrap() })
            })
            .collect();
        while (database.sqlite_writes.runs.queued(&()) as i64) < QUEUED - 1 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let released = std::time::Instant::now();
        drop(held);
        // Once the run has the writer, another write asks for it.
        while transactions(&database) == before {
            tokio::task::yield_now().await;
        }
        let asked = std::time::Instant::now();
        database.writer.execute_unprepared("INSERT INTO t (n) VALUES (-1)").await.unwrap();
        let waited = asked.elapsed();
        for call in calls {
            call.await.unwrap();
        }
        let drained = released.elapsed();
        assert!(drained > Duration::from_millis(40), "{QUEUED} transactions took {drained:?}");
        assert!(waited * 3 < drained, "the other write waited {waited:?} of the queue's {drained:?}");
    }

    #[tokio::test]
    async fn a_run_whose_task_stops_fails_its_queue_rather_than_hanging_it() {
        let writes = super::SqliteWrites::default();
        let (first, _first_answer) = super::Job::new(Vec::new(), WriteStatement::text("SELECT 1"));
        let started = writes.runs.join((), first);
        assert!(started.is_some(), "no run yet: this one starts it");
        let (second, second_answer) = super::Job::new(Vec::new(), WriteStatement::text("SELECT 2"));
        assert!(writes.runs.join((), second).is_none(), "queued behind the run");
        drop(started);
        assert!(second_answer.await.is_err(), "the queued caller is told, not left waiting");
        let (third, _) = super::Job::new(Vec::new(), WriteStatement::text("SELECT 3"));
        assert!(writes.runs.join((), third).is_some(), "the next job starts a new run");
    }
}
