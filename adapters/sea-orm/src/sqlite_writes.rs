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
//! When a grouped run fails (a job's constraint fires, say), the whole
//! transaction is rolled back and every job of it runs again alone: each
//! caller gets the answer, and the error, its job would have had alone.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use sea_orm::sqlx::pool::PoolConnection;
use sea_orm::sqlx::sqlite::{SqlitePool, SqliteRow};
use sea_orm::sqlx::{AssertSqlSafe, Column, Executor, Row, Sqlite};
use sea_orm::DbErr;
use tokio::sync::oneshot;

use crate::runs::Runs;

/// At most this many jobs go into one transaction: enough to take a wave of
/// 64 connections' writes, few enough that a run's parse time stays short.
const MOST_JOBS_AT_ONCE: usize = 64;

/// The column of the marker row that ends each job's rows in a grouped run.
const JOB_END: &str = "tessera_job_end";

/// What a job answers: the first row its query returned, if any.
pub(crate) type JobAnswer = Result<Option<SqliteRow>, DbErr>;

/// One caller's transaction: statements then a query, as SQL text without
/// `BEGIN`/`COMMIT`, and where the answer goes.
pub(crate) struct Job {
    sql: String,
    answer: oneshot::Sender<JobAnswer>,
}

impl Job {
    pub(crate) fn new(statements: &[String], query: &str) -> (Self, oneshot::Receiver<JobAnswer>) {
        let (answer, answered) = oneshot::channel();
        let mut sql = statements.join(";\n");
        if !sql.is_empty() {
            sql.push_str(";\n");
        }
        sql.push_str(query);
        (Self { sql, answer }, answered)
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
    transactions: AtomicU64,
}

impl SqliteWrites {
    /// Runs `job` on the writer `pool`: in the run in progress, or, when there
    /// is none, in a new run started here that keeps going (in a task of its
    /// own) until no job is waiting.
    pub(crate) fn run(self: &Arc<Self>, pool: &SqlitePool, job: Job) {
        if let Some((mut run, first)) = self.runs.join((), job) {
            let (writes, pool) = (self.clone(), pool.clone());
            tokio::spawn(async move {
                let mut batch = vec![first];
                while !batch.is_empty() {
                    writes.run_together(&pool, batch).await;
                    batch = run.next_batch();
                }
            });
        }
    }

    /// Runs `jobs` as one transaction, or, if that fails, each alone.
    async fn run_together(&self, pool: &SqlitePool, jobs: Vec<Job>) {
        if jobs.len() > 1 {
            let mut connection = match pool.acquire().await {
                Ok(connection) => connection,
                Err(error) => {
                    for job in jobs {
                        job.answer(Err(sqlx_error(same_acquire_error(&error))));
                    }
                    return;
                }
            };
            let body: Vec<String> = jobs.iter().map(|job| format!("{};\nSELECT 1 AS {JOB_END}", job.sql)).collect();
            if let Ok(rows) = self.in_transaction(&mut connection, &body.join(";\n")).await {
                let mut answers = answers_of(rows).into_iter();
                for job in jobs {
                    job.answer(Ok(answers.next().flatten()));
                }
                return;
            }
            // Nothing of the group is kept: each job runs again alone, for
            // the answer it would have had alone.
        }
        for job in jobs {
            let answer = self.run_alone(pool, &job.sql).await;
            job.answer(answer);
        }
    }

    /// `sql` in a transaction of its own; its first row.
    async fn run_alone(&self, pool: &SqlitePool, sql: &str) -> JobAnswer {
        let mut connection = pool.acquire().await.map_err(sqlx_error)?;
        let rows = self.in_transaction(&mut connection, sql).await.map_err(sqlx_error)?;
        Ok(rows.into_iter().next())
    }

    /// `body` between `BEGIN IMMEDIATE` and `COMMIT`: every row it returned,
    /// or the error of the statement that stopped it, after which the
    /// transaction is rolled back on the same connection (if even that
    /// fails, the connection is not reused).
    async fn in_transaction(
        &self,
        connection: &mut PoolConnection<Sqlite>,
        body: &str,
    ) -> Result<Vec<SqliteRow>, sea_orm::sqlx::Error> {
        self.transactions.fetch_add(1, Ordering::Relaxed);
        let sql = format!("BEGIN IMMEDIATE;\n{body};\nCOMMIT");
        let result = connection.fetch_all(sea_orm::sqlx::raw_sql(AssertSqlSafe(sql))).await;
        if result.is_err() && connection.execute(sea_orm::sqlx::raw_sql("ROLLBACK")).await.is_err() {
            connection.close_on_drop();
        }
        result
    }
}

fn sqlx_error(error: sea_orm::sqlx::Error) -> DbErr {
    DbErr::Exec(sea_orm::RuntimeErr::SqlxError(Arc::new(error)))
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

/// Each job's first row, in order: a job's rows end at its marker row.
fn answers_of(rows: Vec<SqliteRow>) -> Vec<Option<SqliteRow>> {
    let mut answers = Vec::new();
    let mut first = None;
    for row in rows {
        if row.columns().first().is_some_and(|column| column.name() == JOB_END) {
            answers.push(first.take());
        } else if first.is_none() {
            first = Some(row);
        }
    }
    answers
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sea_orm::sqlx::Row;
    use sea_orm::ConnectionTrait;

    use crate::{connect, Database, DatabaseOptions};

    async fn database(dir: &std::path::Path) -> Database {
        let url = format!("sqlite://{}?mode=rwc", dir.join("writes.db").display());
        let database = connect(&url, &DatabaseOptions::default()).await.unwrap();
        database.writer.execute_unprepared("CREATE TABLE t (n INTEGER PRIMARY KEY)").await.unwrap();
        database.sqlite_transaction(&[insert(0)]).await.unwrap();
        database
    }

    /// Transactions begun so far, grouped or alone.
    fn transactions(database: &Database) -> u64 {
        database.sqlite_writes.transactions.load(super::Ordering::Relaxed)
    }

    fn insert(n: i64) -> String {
        format!("INSERT INTO t (n) VALUES ({n})")
    }

    /// Starts `count` transactions while the writer is held, so that all but
    /// the first queue behind it, then lets them go. Transaction `n` inserts
    /// `n` (or, in `failing`, a row that already exists) and answers the rows
    /// it sees and the rows it changed.
    async fn queued_behind_a_held_writer(
        database: &Database,
        count: i64,
        failing: &[i64],
    ) -> Vec<Result<(i64, i64), sea_orm::DbErr>> {
        let held = database.writer.get_sqlite_connection_pool().acquire().await.unwrap();
        let before = transactions(database);
        let calls: Vec<_> = (1..=count)
            .map(|n| {
                let database = database.clone();
                let statement = if failing.contains(&n) { insert(0) } else { insert(n) };
                tokio::spawn(async move {
                    let row = database
                        .sqlite_transaction_then(&[statement], "SELECT (SELECT count(*) FROM t), changes()")
                        .await?
                        .expect("a row");
                    Ok::<_, sea_orm::DbErr>((row.get::<i64, _>(0), row.get::<i64, _>(1)))
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
                    assert!(crate::errors::unique_violation(error).is_some(), "{n}: {error}")
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

    #[tokio::test]
    async fn a_run_whose_task_stops_fails_its_queue_rather_than_hanging_it() {
        let writes = super::SqliteWrites::default();
        let (first, _first_answer) = super::Job::new(&[], "SELECT 1");
        let started = writes.runs.join((), first);
        assert!(started.is_some(), "no run yet: this one starts it");
        let (second, second_answer) = super::Job::new(&[], "SELECT 2");
        assert!(writes.runs.join((), second).is_none(), "queued behind the run");
        drop(started);
        assert!(second_answer.await.is_err(), "the queued caller is told, not left waiting");
        let (third, _) = super::Job::new(&[], "SELECT 3");
        assert!(writes.runs.join((), third).is_some(), "the next job starts a new run");
    }
}
