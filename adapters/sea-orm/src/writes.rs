//! Writes that several ports make inside their own transaction: the
//! conditional license update (licenses, customers) and a customer for every
//! licensee (licenses, imports), and SQLite's one-call transactions of them.

use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel, QueryFilter};
use tessera_domain::audit::AuditEvent;
use tessera_domain::license::{License, UpdateLicenseError};
use tessera_domain::repository::RepositoryError;

use crate::entities::{audit_events, customers, licenses};
use crate::errors::repository_error;
use crate::rows::{audit_row, license_row, timestamp};
use crate::sqlite_writes::WriteStatement;

/// The conditional license update and its audit event, inside `txn`.
pub(crate) async fn update_license_in(
    txn: &sea_orm::DatabaseTransaction,
    license: &License,
    expected_version: i64,
    audit: &AuditEvent,
) -> Result<(), UpdateLicenseError> {
    use licenses::Column;
    let mut row = license_row(license, None).into_active_model().reset_all();
    // Never touch the idempotency record or the identity of the license.
    row.idempotency_key = sea_orm::ActiveValue::NotSet;
    row.idempotency_request = sea_orm::ActiveValue::NotSet;
    row.id = sea_orm::ActiveValue::NotSet;
    row.key = sea_orm::ActiveValue::NotSet;
    // Only the activation store counts seats.
    row.seats_used = sea_orm::ActiveValue::NotSet;
    let updated = licenses::Entity::update_many()
        .set(row)
        .filter(Column::Id.eq(license.id.to_string()))
        .filter(Column::Version.eq(expected_version))
        .exec(txn)
        .await
        .map_err(repository_error)?;
    if updated.rows_affected == 0 {
        let exists =
            licenses::Entity::find_by_id(license.id.to_string()).one(txn).await.map_err(repository_error)?.is_some();
        return Err(if exists {
            UpdateLicenseError::Conflict
        } else {
            UpdateLicenseError::NotFound(license.key.clone())
        });
    }
    audit_events::Entity::insert(audit_row(audit)).exec_without_returning(txn).await.map_err(repository_error)?;
    Ok(())
}

/// Runs a conditional update and, when it matched a row, stores `audit` in
/// the same transaction; `Ok(false)` and nothing written when it did not. On
/// SQLite the two go as one [`Database::sqlite_transaction`], the audit insert
/// guarded by `changes()` (the rows the update just changed).
///
/// [`Database::sqlite_transaction`]: crate::connection::Database::sqlite_transaction
pub(crate) async fn update_with_audit<E: sea_orm::EntityTrait>(
    db: &crate::connection::Database,
    update: sea_orm::UpdateMany<E>,
    audit: &AuditEvent,
) -> Result<bool, RepositoryError> {
    use sea_orm::{QueryTrait, TransactionTrait};
    if db.backend() == sea_orm::DbBackend::Sqlite {
        let statements = vec![WriteStatement::of(update.as_query()), audit_insert_if_changed(audit)];
        // The audit event was stored only if the update changed its row.
        let applied = db.sqlite_transaction(statements).await? == 1;
        if applied {
            db.synced().await?;
        }
        return Ok(applied);
    }
    let txn = db.writer.begin().await.map_err(repository_error)?;
    if update.exec(&txn).await.map_err(repository_error)?.rows_affected == 0 {
        let _ = txn.rollback().await;
        return Ok(false);
    }
    audit_events::Entity::insert(audit_row(audit)).exec_without_returning(&txn).await.map_err(repository_error)?;
    db.commit(txn).await?;
    Ok(true)
}

/// `INSERT INTO audit_events (…) SELECT … WHERE changes() = 1` for SQLite:
/// the audit event of the conditional update just before it, stored only if
/// that update changed its row.
pub(crate) fn audit_insert_if_changed(audit: &AuditEvent) -> WriteStatement {
    insert_if_changed(audit_row(audit))
}

/// A SQLite insert of `row` that happens only when the statement before it
/// changed exactly one row (`changes() = 1`), for one-call transactions that
/// chain conditions.
pub(crate) fn insert_if_changed<A>(row: A) -> WriteStatement
where
    A: sea_orm::ActiveModelTrait,
    A::Entity: Default,
{
    use sea_orm::sea_query::{Expr, Query};
    let (columns, values) = columns_and_values(&row);
    let guarded = Query::select().exprs(values).and_where(Expr::cust("changes() = 1")).to_owned();
    let insert = Query::insert()
        .into_table(A::Entity::default())
        .columns(columns)
        .select_from(guarded)
        .expect("as many values as columns")
        .to_owned();
    WriteStatement::of(&insert)
}

/// The columns `row` sets, and their values as expressions.
#[allow(clippy::type_complexity)]
fn columns_and_values<A: sea_orm::ActiveModelTrait>(
    row: &A,
) -> (Vec<<A::Entity as EntityTrait>::Column>, Vec<sea_orm::sea_query::SimpleExpr>) {
    use sea_orm::sea_query::Expr;
    use sea_orm::Iterable;
    <A::Entity as EntityTrait>::Column::iter()
        .filter_map(|column| row.get(column).into_value().map(|value| (column, Expr::val(value))))
        .unzip()
}

/// Postgres text of an insert of `row` once for each row of `from` (a CTE
/// of the same statement), returning `returning`.
pub(crate) fn postgres_insert_for_each<A>(row: A, from: &str, returning: &str) -> (String, sea_orm::sea_query::Values)
where
    A: sea_orm::ActiveModelTrait,
    A::Entity: Default,
{
    use sea_orm::sea_query::{Alias, PostgresQueryBuilder, Query};
    let (columns, values) = columns_and_values(&row);
    let each = Query::select().exprs(values).from(Alias::new(from)).to_owned();
    Query::insert()
        .into_table(A::Entity::default())
        .columns(columns)
        .select_from(each)
        .expect("as many values as columns")
        .returning_col(Alias::new(returning))
        .build(PostgresQueryBuilder)
}

/// Postgres statements built apart (each numbering its parameters from `$1`)
/// joined into one: [`Self::push`] renumbers a part's parameters after those
/// already pushed and answers its text, [`Self::statement`] binds them all.
/// The text is the same from call to call, so the driver prepares it once per
/// connection instead of Postgres parsing and planning it every time.
#[derive(Default)]
pub(crate) struct PostgresParts {
    values: Vec<sea_orm::Value>,
}

impl PostgresParts {
    pub(crate) fn push(&mut self, (sql, values): (String, sea_orm::sea_query::Values)) -> String {
        let offset = self.values.len();
        self.values.extend(values.0);
        // Every value is a parameter, so each `$` followed by digits is one.
        let mut renumbered = String::with_capacity(sql.len() + 16);
        let mut rest = sql.as_str();
        while let Some(dollar) = rest.find('$') {
            renumbered.push_str(&rest[..=dollar]);
            rest = &rest[dollar + 1..];
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if let Ok(number) = rest[..digits].parse::<usize>() {
                renumbered.push_str(&(number + offset).to_string());
                rest = &rest[digits..];
            }
        }
        renumbered.push_str(rest);
        renumbered
    }

    pub(crate) fn statement(self, sql: String) -> sea_orm::Statement {
        sea_orm::Statement::from_sql_and_values(sea_orm::DbBackend::Postgres, sql, self.values)
    }
}

/// [`ensure_customers`]'s inserts for SQLite's one-call transactions.
pub(crate) fn customer_inserts(licenses: &[License]) -> Vec<WriteStatement> {
    use sea_orm::QueryTrait;
    customer_rows(licenses)
        .chunks(500)
        .map(|chunk| {
            WriteStatement::of(
                customers::Entity::insert_many(chunk.to_vec())
                    .on_conflict(OnConflict::column(customers::Column::Email).do_nothing().to_owned())
                    .as_query(),
            )
        })
        .collect()
}

fn customer_rows(licenses: &[License]) -> Vec<customers::ActiveModel> {
    let mut seen = std::collections::HashSet::new();
    licenses
        .iter()
        .filter(|license| seen.insert(license.email.as_str()))
        .map(|license| {
            customers::Model {
                email: license.email.as_str().to_owned(),
                name: license.name.as_str().to_owned(),
                created_at: timestamp(license.issued_at),
                updated_at: timestamp(license.updated_at),
            }
            .into_active_model()
        })
        .collect()
}

/// Inserts a customer for each license's email unless one exists.
pub(crate) async fn ensure_customers(db: &impl ConnectionTrait, licenses: &[License]) -> Result<(), RepositoryError> {
    let rows = customer_rows(licenses);
    for chunk in rows.chunks(500) {
        let inserted = customers::Entity::insert_many(chunk.to_vec())
            .on_conflict(OnConflict::column(customers::Column::Email).do_nothing().to_owned())
            .exec_without_returning(db)
            .await;
        match inserted {
            Ok(_) | Err(DbErr::RecordNotInserted) => {}
            Err(error) => return Err(repository_error(error)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use sea_orm::sea_query::Values;
    use sea_orm::Value;

    use super::PostgresParts;

    /// Each part's parameters follow the ones pushed before it, `$10` and up
    /// included, and the values are bound in that order.
    #[test]
    fn parts_number_their_parameters_after_the_ones_before() {
        let mut parts = PostgresParts::default();
        let values = |numbers: std::ops::Range<i64>| Values(numbers.map(|n| Value::BigInt(Some(n))).collect());
        let first = parts.push(("SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10".into(), values(1..11)));
        assert_eq!(first, "SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10");
        let second = parts.push(("UPDATE t SET a = $1 WHERE b = $2 AND c = 'x'".into(), values(11..13)));
        assert_eq!(second, "UPDATE t SET a = $11 WHERE b = $12 AND c = 'x'");
        let statement = parts.statement(format!("{first}; {second}"));
        let bound = statement.values.expect("values").0;
        assert_eq!(bound, (1..13).map(|n| Value::BigInt(Some(n))).collect::<Vec<_>>());
    }
}
