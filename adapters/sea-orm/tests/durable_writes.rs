//! Every write of the store is durable before it returns: transactions commit
//! through `Database::commit` (commit, then the WAL's group fsync) and every
//! autocommit statement on the writer is followed by `Database::synced` (or,
//! for a check-in no kept view needs to see, `Database::durable`) in the same
//! method (a batch run inside a transaction commits through the former). A
//! write that skips them would be acknowledged while only in the page cache;
//! this reads the sources so that such a write fails here.

use std::path::Path;

#[test]
fn no_write_returns_before_it_is_on_disk() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut problems = Vec::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|ext| ext != "rs") {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        // The connection itself (migrations, the sync) and the tests' database setup.
        if name == "connection.rs" || name == "test_support.rs" {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        if text.contains(".commit().await") {
            problems.push(format!("{name}: commits a transaction without Database::commit"));
        }
        // Each method's body: from one `async fn` to the next.
        for method in text.split("async fn ").skip(1) {
            let autocommit = method.contains(".exec(&self.db.writer)")
                || method.contains(".exec_without_returning(&self.db.writer)")
                || method.contains("self.db.writer.execute_unprepared(");
            let made_durable = method.contains("self.db.synced()") || method.contains("self.db.durable()");
            if autocommit && !made_durable {
                let signature = method.lines().next().unwrap_or_default();
                problems.push(format!("{name}: `{signature}` writes without Database::synced"));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
