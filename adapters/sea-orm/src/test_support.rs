//! Fresh, migrated databases for tests: a SQLite file, or a throwaway Postgres
//! database when `TESSERA_TEST_DATABASE_URL` is set. Not used by the server.

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use sea_orm::{ConnectionTrait, Statement};

use crate::{connect, Database, DatabaseOptions};

/// The variable naming a Postgres server tests may create databases on.
pub const TEST_DATABASE_URL: &str = "TESSERA_TEST_DATABASE_URL";

static NEXT: AtomicU32 = AtomicU32::new(0);

fn unique_name(prefix: &str) -> String {
    format!("{prefix}_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A new, migrated SQLite database in a fresh file under `dir`.
pub async fn sqlite_database(dir: &Path) -> Database {
    std::fs::create_dir_all(dir).expect("test directory");
    let path = dir.join(format!("{}.db", unique_name("tessera")));
    let db = connect(&format!("sqlite://{}?mode=rwc", path.display()), &DatabaseOptions::default())
        .await
        .expect("open SQLite");
    db.migrate().await.expect("migrate SQLite");
    db
}

/// The Postgres URL for tests. Panics when it is not set: the Postgres tests
/// are `#[ignore]`d, so running them says Postgres is wanted.
pub fn postgres_test_url() -> String {
    match std::env::var(TEST_DATABASE_URL) {
        Ok(url) if !url.is_empty() => url,
        _ => panic!("this test needs Postgres: set {TEST_DATABASE_URL}=postgres://…"),
    }
}

/// A new, migrated database on the test Postgres server, named after this
/// process so that databases of finished test runs can be dropped.
pub async fn postgres_database() -> Database {
    let db = connect(&new_postgres_database().await, &DatabaseOptions::default()).await.expect("open test database");
    db.migrate().await.expect("migrate Postgres");
    db
}

/// Two connections to one new, migrated Postgres database, as two instances
/// of the server would have.
pub async fn postgres_database_pair() -> (Database, Database) {
    let url = new_postgres_database().await;
    let first = connect(&url, &DatabaseOptions::default()).await.expect("open test database");
    first.migrate().await.expect("migrate Postgres");
    (first, connect(&url, &DatabaseOptions::default()).await.expect("open test database"))
}

/// The URL of a new, empty database on the test Postgres server.
async fn new_postgres_database() -> String {
    let admin_url = postgres_test_url();
    let admin = connect(&admin_url, &DatabaseOptions { max_connections: 2, ..Default::default() })
        .await
        .unwrap_or_else(|error| panic!("{TEST_DATABASE_URL} is set but unreachable: {error}"));
    drop_databases_of_finished_runs(&admin).await;
    let name = unique_name("tessera_test");
    admin.writer.execute_unprepared(&format!("CREATE DATABASE {name}")).await.expect("create test database");
    admin.close().await;
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (admin_url.as_str(), String::new()),
    };
    let base = base.rsplit_once('/').map_or(base, |(server, _)| server);
    format!("{base}/{name}{query}")
}

async fn drop_databases_of_finished_runs(admin: &Database) {
    let backend = admin.backend();
    let rows = admin
        .writer
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT datname FROM pg_database WHERE datname LIKE 'tessera_test_%'",
        ))
        .await
        .unwrap_or_default();
    for row in rows {
        let Ok(name) = row.try_get::<String>("", "datname") else { continue };
        let pid = name.split('_').nth(2).and_then(|pid| pid.parse::<u32>().ok());
        let finished = pid.is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists());
        if finished {
            let _ = admin.writer.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name}")).await;
        }
    }
}
