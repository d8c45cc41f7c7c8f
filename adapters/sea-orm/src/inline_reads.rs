//! The hot reads on a SQLite file, run in place on the calling thread.
//!
//! sqlx runs every SQLite call on the connection's own thread, so each query
//! is a hand-off there and back, and on these 2-core machines a hand-off cost
//! more CPU than the query itself (one fewer per heartbeat took heartbeats
//! from 2,699 to 4,682/s). The reads that activations, heartbeats, sales and
//! validations the read cache cannot answer make — a machine's view by license
//! key and fingerprint or by activation id, a license by its key or its
//! idempotency key (a storefront's sale id) — are lookups on a unique index
//! that take tens of microseconds, less than an Ed25519 signature the same
//! request computes in place. So they run here, on read-only connections of
//! their own: in WAL mode a reader never waits for the writer. Everything
//! else stays on sea-orm.

use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, Row};
use sea_orm::{EntityTrait, IdenStatic, Iterable};
use tessera_domain::repository::RepositoryError;

use crate::entities::{activations, licenses};

/// Connections kept between reads; more are opened while more threads read at
/// once (a tokio runtime has one per core, plus blocking threads).
const KEPT_CONNECTIONS: usize = 8;

pub(crate) struct InlineReader {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl std::fmt::Debug for InlineReader {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("InlineReader").field("path", &self.path).finish_non_exhaustive()
    }
}

/// A license row and, with it, an activation row (if any).
pub(crate) type Found<T> = Option<(licenses::Model, T)>;

impl InlineReader {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self { path, idle: Mutex::new(Vec::new()) }
    }

    /// The license of `key` and, with `fingerprint`, that machine's live
    /// activation: the query `read_for_machine` makes through sea-orm.
    pub(crate) fn machine(
        &self,
        key: &str,
        fingerprint: Option<&str>,
    ) -> Result<Found<Option<activations::Model>>, RepositoryError> {
        static SQL: OnceLock<String> = OnceLock::new();
        let sql = SQL.get_or_init(|| {
            format!(
                "SELECT {}, {} FROM licenses AS l LEFT JOIN activations AS a ON a.license_id = l.id \
                 AND a.fingerprint = ?2 AND a.deactivated_at IS NULL WHERE l.key = ?1 LIMIT 1",
                license_columns(),
                activation_columns(),
            )
        });
        self.read(sql, (key, fingerprint), |row| {
            let activation = row.get::<_, Option<String>>("a_id")?.is_some().then(|| activation(row)).transpose()?;
            Ok((license(row)?, activation))
        })
    }

    /// Activation `id` and its license (`None` for the license only if the
    /// row is missing, which the caller reports as corrupt).
    pub(crate) fn by_activation(
        &self,
        id: &str,
    ) -> Result<Option<(activations::Model, Option<licenses::Model>)>, RepositoryError> {
        static SQL: OnceLock<String> = OnceLock::new();
        let sql = SQL.get_or_init(|| {
            format!(
                "SELECT {}, {} FROM activations AS a LEFT JOIN licenses AS l ON l.id = a.license_id WHERE a.id = ?1",
                license_columns(),
                activation_columns(),
            )
        });
        self.read(sql, (id,), |row| {
            let license = row.get::<_, Option<String>>("l_id")?.is_some().then(|| license(row)).transpose()?;
            Ok((activation(row)?, license))
        })
    }

    /// The license whose unique `column` (its key, its idempotency key) is `value`.
    pub(crate) fn license_where(
        &self,
        column: licenses::Column,
        value: &str,
    ) -> Result<Option<licenses::Model>, RepositoryError> {
        let sql = format!("SELECT {} FROM licenses AS l WHERE l.{} = ?1 LIMIT 1", license_columns(), column.as_str());
        self.read(&sql, (value,), license)
    }

    /// Runs `sql` on a kept connection (its prepared statement is cached there)
    /// and maps its first row.
    fn read<T>(
        &self,
        sql: &str,
        parameters: impl rusqlite::Params,
        map: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Option<T>, RepositoryError> {
        let kept = self.idle.lock().expect("not poisoned").pop();
        let connection = match kept {
            Some(connection) => connection,
            None => self.open().map_err(read_error)?,
        };
        let found =
            connection.prepare_cached(sql).and_then(|mut statement| statement.query_row(parameters, map).optional());
        let mut idle = self.idle.lock().expect("not poisoned");
        if idle.len() < KEPT_CONNECTIONS {
            idle.push(connection);
        }
        found.map_err(read_error)
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        let connection = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
        )?;
        // A WAL reader waits only while a crashed writer's WAL is recovered.
        connection.busy_timeout(Duration::from_secs(1))?;
        Ok(connection)
    }
}

/// The table's columns as `alias.column AS prefixcolumn`, in the entity's order.
fn columns<E: EntityTrait>(alias: &str, prefix: &str) -> String {
    E::Column::iter()
        .map(|column| format!("{alias}.{0} AS {prefix}{0}", column.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `licenses AS l`'s columns, named `l_…` ([`license`] reads them), built once.
fn license_columns() -> &'static str {
    static COLUMNS: OnceLock<String> = OnceLock::new();
    COLUMNS.get_or_init(|| columns::<licenses::Entity>("l", "l_"))
}

/// `activations AS a`'s columns, named `a_…` ([`activation`] reads them), built once.
fn activation_columns() -> &'static str {
    static COLUMNS: OnceLock<String> = OnceLock::new();
    COLUMNS.get_or_init(|| columns::<activations::Entity>("a", "a_"))
}

fn license(row: &Row<'_>) -> rusqlite::Result<licenses::Model> {
    Ok(licenses::Model {
        id: row.get("l_id")?,
        key: row.get("l_key")?,
        product: row.get("l_product")?,
        tier: row.get("l_tier")?,
        features: row.get("l_features")?,
        seats: row.get("l_seats")?,
        kind: row.get("l_kind")?,
        name: row.get("l_name")?,
        email: row.get("l_email")?,
        state: row.get("l_state")?,
        issued_at: row.get("l_issued_at")?,
        expires_at: row.get("l_expires_at")?,
        source: row.get("l_source")?,
        source_ref: row.get("l_source_ref")?,
        notes: row.get("l_notes")?,
        revoke_reason: row.get("l_revoke_reason")?,
        app_versions: row.get("l_app_versions")?,
        token: row.get("l_token")?,
        idempotency_key: row.get("l_idempotency_key")?,
        idempotency_request: row.get("l_idempotency_request")?,
        updated_at: row.get("l_updated_at")?,
        version: row.get("l_version")?,
        seats_used: row.get("l_seats_used")?,
        subscription_id: row.get("l_subscription_id")?,
        subscription_renewing: row.get("l_subscription_renewing")?,
    })
}

fn activation(row: &Row<'_>) -> rusqlite::Result<activations::Model> {
    Ok(activations::Model {
        id: row.get("a_id")?,
        license_id: row.get("a_license_id")?,
        fingerprint: row.get("a_fingerprint")?,
        machine_name: row.get("a_machine_name")?,
        platform: row.get("a_platform")?,
        app_version: row.get("a_app_version")?,
        activated_at: row.get("a_activated_at")?,
        last_seen_at: row.get("a_last_seen_at")?,
        deactivated_at: row.get("a_deactivated_at")?,
    })
}

/// Sorted like sea-orm's errors: the file cannot be read now, or anything else.
fn read_error(error: rusqlite::Error) -> RepositoryError {
    use rusqlite::ErrorCode;
    match error.sqlite_error_code() {
        Some(
            ErrorCode::CannotOpen | ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked | ErrorCode::SystemIoFailure,
        ) => RepositoryError::unavailable(error),
        _ => RepositoryError::unexpected(error),
    }
}
