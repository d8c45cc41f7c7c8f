//! Activations on sea-orm. Seat limits hold on both databases and across
//! processes without `SELECT … FOR UPDATE`:
//!
//! - taking a seat is one transaction whose first statement is the conditional
//!   `UPDATE licenses SET seats_used = seats_used + 1 WHERE id = ? AND state =
//!   'active' AND seats_used < seats`. Postgres re-checks the condition after
//!   waiting for a concurrent writer's row lock; SQLite runs one writer at a time.
//!   Either way the counter can never pass `seats`.
//! - the partial unique index on live `(license_id, fingerprint)` turns a
//!   concurrent duplicate activation of one machine into a rollback.

use async_trait::async_trait;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel, JoinType, QueryFilter, QueryOrder,
    QuerySelect, RelationTrait, TransactionTrait,
};
use tessera_domain::audit::AuditEvent;
use tessera_domain::license::{
    Activation, ActivationRepository, ChurnLimit, Fingerprint, LicenseKey, MachineView, SeatOutcome,
};
use tessera_domain::repository::RepositoryError;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::connection::CHANGES_CHANNEL;
use crate::entities::{activations, audit_events, licenses};
use crate::errors::{repository_error, unique_violation};
use crate::read_cache::ViewKey;
use crate::rows::{audit_row, corrupt, from_timestamp, license_from_row, timestamp};
use crate::seat_claims::{Claim, Run};
use crate::SeaOrmStore;

fn activation_from_row(row: activations::Model) -> Result<Activation, RepositoryError> {
    Ok(Activation {
        id: row.id.parse().map_err(|error| corrupt("activation id", error))?,
        license_id: row.license_id.parse().map_err(|error| corrupt("license id", error))?,
        fingerprint: Fingerprint::parse(&row.fingerprint).map_err(|error| corrupt("fingerprint", error))?,
        name: row.machine_name,
        platform: row.platform,
        app_version: row.app_version,
        activated_at: from_timestamp(row.activated_at)?,
        last_seen_at: from_timestamp(row.last_seen_at)?,
        deactivated_at: row.deactivated_at.map(from_timestamp).transpose()?,
    })
}

fn activation_row(activation: &Activation) -> activations::ActiveModel {
    activations::Model {
        id: activation.id.to_string(),
        license_id: activation.license_id.to_string(),
        fingerprint: activation.fingerprint.as_str().to_owned(),
        machine_name: activation.name.clone(),
        platform: activation.platform.clone(),
        app_version: activation.app_version.clone(),
        activated_at: timestamp(activation.activated_at),
        last_seen_at: timestamp(activation.last_seen_at),
        deactivated_at: activation.deactivated_at.map(timestamp),
    }
    .into_active_model()
}

fn view(row: licenses::Model, activation: Option<activations::Model>) -> Result<MachineView, RepositoryError> {
    let seats_used = u32::try_from(row.seats_used).map_err(|error| corrupt("seats_used", error))?;
    Ok(MachineView {
        license: license_from_row(row)?,
        seats_used,
        activation: activation.map(activation_from_row).transpose()?,
    })
}

async fn live_activation(
    db: &impl ConnectionTrait,
    license_id: &str,
    fingerprint: &str,
) -> Result<Option<activations::Model>, RepositoryError> {
    use activations::Column;
    activations::Entity::find()
        .filter(Column::LicenseId.eq(license_id))
        .filter(Column::Fingerprint.eq(fingerprint))
        .filter(Column::DeactivatedAt.is_null())
        .one(db)
        .await
        .map_err(repository_error)
}

/// The deactivations of the license since `since` (the churn count), as a subquery.
fn churned_since(license_id: &str, since: OffsetDateTime) -> sea_orm::sea_query::SimpleExpr {
    use sea_orm::sea_query::{Query, QueryStatementBuilder};
    let count = Query::select()
        .expr(Expr::col(activations::Column::Id).count())
        .from(activations::Entity)
        .and_where(activations::Column::LicenseId.eq(license_id))
        .and_where(activations::Column::DeactivatedAt.gte(timestamp(since)))
        .to_owned();
    sea_orm::sea_query::SimpleExpr::SubQuery(None, Box::new(count.into_sub_query_statement()))
}

/// The claim of one seat: one more seat used, only while the license is
/// active, a seat is free and (with `churn`) the churn cap is not reached.
fn seat_claim(license_id: &str, churn: Option<ChurnLimit>) -> sea_orm::sea_query::UpdateStatement {
    use licenses::Column;
    use sea_orm::QueryTrait;
    let mut claim = licenses::Entity::update_many()
        .col_expr(Column::SeatsUsed, Expr::col(Column::SeatsUsed).add(1))
        .filter(Column::Id.eq(license_id))
        .filter(Column::State.eq("active"))
        .filter(Expr::col(Column::SeatsUsed).lt(Expr::col(Column::Seats)));
    if let Some(churn) = churn {
        claim = claim.filter(Expr::expr(churned_since(license_id, churn.since)).lt(i64::from(churn.limit)));
    }
    claim.as_query().to_owned()
}

/// The query that says what a seat claim did, run in the claim's own
/// transaction or statement: `taken` (`taken_expr`: the seats used once the
/// seat was taken, NULL when it was not), then the license as the claim saw it
/// and, with a churn cap, its deactivations in the window.
fn claim_report(
    license_id: &str,
    churn: Option<ChurnLimit>,
    taken_expr: sea_orm::sea_query::SimpleExpr,
) -> sea_orm::sea_query::SelectStatement {
    use licenses::Column;
    use sea_orm::sea_query::{Alias, Query};
    let int8 = |column: Column| Expr::col(column).cast_as(Alias::new("int8"));
    let churned = churn.map_or_else(
        || Expr::val(0i64).cast_as(Alias::new("int8")),
        |churn| Expr::expr(churned_since(license_id, churn.since)).cast_as(Alias::new("int8")),
    );
    Query::select()
        .expr_as(taken_expr, Alias::new("taken"))
        .expr_as(int8(Column::SeatsUsed), Alias::new("seats_used"))
        .expr_as(int8(Column::Seats), Alias::new("seats"))
        .column(Column::State)
        .expr_as(churned, Alias::new("churned"))
        .from(licenses::Entity)
        .and_where(Column::Id.eq(license_id))
        .to_owned()
}

/// [`SeaOrmStore::take_seats_together`]'s statement: `$1` the license,
/// `$2`–`$8` the activations' columns and `$9`–`$15` their audit events' as
/// arrays in batch order, `$16` and `$17` the churn window's start and cap
/// (NULL: no cap).
const CLAIM_SEATS_TOGETHER: &str = "\
WITH batch AS (
    SELECT * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int8[], $8::int8[],
                         $9::text[], $10::int8[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[])
        AS batch(id, fingerprint, machine_name, platform, app_version, activated_at, last_seen_at,
                 audit_id, audit_at, actor, action, entity_type, entity_id, details)
), claimed AS (
    UPDATE licenses SET seats_used = seats_used + (SELECT count(*) FROM batch)
    WHERE id = $1 AND state = 'active' AND seats_used + (SELECT count(*) FROM batch) <= seats
      AND NOT EXISTS (SELECT 1 FROM batch, LATERAL (
                          -- LIMIT keeps this a lookup in the live-fingerprint index per
                          -- machine, not a scan of every live activation of the license.
                          SELECT 1 FROM activations
                          WHERE license_id = $1 AND fingerprint = batch.fingerprint AND deactivated_at IS NULL
                          LIMIT 1) AS live)
      AND ($16::int8 IS NULL OR (SELECT count(*) FROM activations
                                 WHERE license_id = $1 AND deactivated_at >= $16::int8) < $17::int8)
    RETURNING seats_used
), inserted AS (
    INSERT INTO activations (id, license_id, fingerprint, machine_name, platform, app_version,
                             activated_at, last_seen_at, deactivated_at)
    SELECT batch.id, $1, fingerprint, machine_name, platform, app_version, activated_at, last_seen_at, NULL
    FROM batch, claimed
    RETURNING id
), audited AS (
    INSERT INTO audit_events (id, at, actor, action, entity_type, entity_id, details)
    SELECT audit_id, audit_at, actor, action, entity_type, entity_id, details
    FROM batch JOIN inserted USING (id)
), notified AS (
    SELECT pg_notify('tessera_changes', '') FROM claimed
)
SELECT (SELECT seats_used FROM claimed)::int8 AS taken, (SELECT count(*) FROM notified) AS notified";

/// What [`claim_report`]'s row means. `None`: no seat was free, or the
/// machine holds one already (the caller looks).
struct ClaimReport {
    taken: Option<i64>,
    seats_used: i64,
    seats: i64,
    state: String,
    churned: i64,
}

impl ClaimReport {
    /// The report's row, by column name, from either database.
    fn read(row: &sea_orm::QueryResult) -> Result<Self, RepositoryError> {
        let corrupt = |error| corrupt("seat claim", error);
        Ok(Self {
            taken: row.try_get("", "taken").map_err(corrupt)?,
            seats_used: row.try_get("", "seats_used").map_err(corrupt)?,
            seats: row.try_get("", "seats").map_err(corrupt)?,
            state: row.try_get("", "state").map_err(corrupt)?,
            churned: row.try_get("", "churned").map_err(corrupt)?,
        })
    }

    /// The report's row from SQLite's one-call transaction.
    fn read_written(row: &crate::sqlite_writes::WrittenRow) -> Result<Self, RepositoryError> {
        let corrupt = |error| corrupt("seat claim", error);
        Ok(Self {
            taken: row.get("taken").map_err(corrupt)?,
            seats_used: row.get("seats_used").map_err(corrupt)?,
            seats: row.get("seats").map_err(corrupt)?,
            state: row.get("state").map_err(corrupt)?,
            churned: row.get("churned").map_err(corrupt)?,
        })
    }

    fn outcome(self, churn: Option<ChurnLimit>) -> Result<Option<SeatOutcome>, RepositoryError> {
        if let Some(seats_used) = self.taken {
            let seats_used = u32::try_from(seats_used).map_err(|error| corrupt("seats_used", error))?;
            return Ok(Some(SeatOutcome::Taken { seats_used }));
        }
        // A seat was free, so the churn cap refused it.
        let seat_free = self.state == "active" && self.seats_used < self.seats;
        Ok(match churn {
            Some(churn) if seat_free && self.churned >= i64::from(churn.limit) => Some(SeatOutcome::ChurnLimited),
            _ => None,
        })
    }
}

impl SeaOrmStore {
    /// SQLite's `take_seat`: the claim of a seat (and the churn count), the
    /// activation and its audit event as one call to the writer's thread,
    /// each step guarded by the one before (`changes() = 1`); the report
    /// inside the transaction says what happened.
    async fn take_seat_in_one_call(
        &self,
        activation: &Activation,
        churn: Option<ChurnLimit>,
        audit: &AuditEvent,
    ) -> Result<Option<SeatOutcome>, RepositoryError> {
        use crate::sqlite_writes::WriteStatement;
        let license_id = activation.license_id.to_string();
        let statements = vec![
            WriteStatement::of(&seat_claim(&license_id, churn)),
            crate::writes::insert_if_changed(activation_row(activation)),
            crate::writes::audit_insert_if_changed(audit),
        ];
        // `changes()` is the audit insert's: 1 only when all three happened, and
        // then SQLite shows the license as they left it.
        let taken = Expr::cust("CASE WHEN changes() = 1 THEN seats_used END");
        let report = WriteStatement::of(&claim_report(&license_id, churn, taken));
        let row = match self.db.sqlite_transaction_then(statements, report).await {
            Ok(row) => row,
            // A concurrent activation of the same machine won (the partial unique index).
            Err(error) if error.unique_violation().is_some() => return Ok(None),
            Err(error) => return Err(error.into()),
        };
        let Some(row) = row else { return Ok(None) };
        let report = ClaimReport::read_written(&row)?;
        if report.taken.is_some() {
            self.db.synced().await?;
        }
        report.outcome(churn)
    }

    /// Postgres's `take_seat`: the claim joins the run of claims on its
    /// license (see `seat_claims`), starting one if there is none, and waits
    /// for its answer. The run goes on in a task of its own, so a caller that
    /// gives up does not stop the claims queued behind it.
    async fn take_seat_combined(
        &self,
        activation: &Activation,
        churn: Option<ChurnLimit>,
        audit: &AuditEvent,
    ) -> Result<Option<SeatOutcome>, RepositoryError> {
        let (claim, answered) = Claim::new(activation.clone(), churn, audit.clone());
        if let Some((run, first)) = self.seat_claims.join(activation.license_id, claim) {
            let store = self.clone();
            tokio::spawn(async move { store.run_claims(run, first).await });
        }
        answered.await.map_err(|_| RepositoryError::unexpected("the seat claims stopped before answering"))?
    }

    /// Claims batch after batch on one license until none is waiting.
    async fn run_claims(&self, mut run: Run, first: Claim) {
        let mut batch = vec![first];
        while !batch.is_empty() {
            self.claim_batch(batch).await;
            batch = run.next_batch();
        }
    }

    /// Several claims go as one statement that takes a seat for every one or
    /// for none. When it takes none (too few seats left, the license changed,
    /// a machine already active, the churn cap), each claim runs alone and
    /// answers for itself, as it would have without the others. A machine
    /// claiming twice in one batch is claimed once together; its other
    /// claims run alone after, and find it active.
    async fn claim_batch(&self, batch: Vec<Claim>) {
        let mut fingerprints = std::collections::HashSet::new();
        let (together, repeats): (Vec<Claim>, Vec<Claim>) =
            batch.into_iter().partition(|claim| fingerprints.insert(claim.activation.fingerprint.clone()));
        let alone = if together.len() < 2 {
            together
        } else {
            match self.take_seats_together(&together).await {
                Ok(Some(seats_used)) => {
                    // The claims took the seats up to `seats_used`, in batch order.
                    let first = seats_used + 1 - together.len() as u32;
                    for (claim, seats_used) in together.into_iter().zip(first..) {
                        claim.answer(Ok(Some(SeatOutcome::Taken { seats_used })));
                    }
                    Vec::new()
                }
                Ok(None) => together,
                Err(error) => {
                    // A unique violation: a concurrent activation of one of the
                    // machines won, which that claim alone finds.
                    if unique_violation(&error).is_none() {
                        tracing::debug!(%error, "claiming seats together failed; claiming them one by one");
                    }
                    together
                }
            }
        };
        for claims in [alone, repeats] {
            futures::future::join_all(claims.into_iter().map(|claim| async move {
                let answer = self.take_seat_in_one_statement(&claim.activation, claim.churn, &claim.audit).await;
                claim.answer(answer);
            }))
            .await;
        }
    }

    /// One statement for the claims of `batch` (one license, distinct
    /// machines): a seat for each — all or none — with every activation and
    /// its audit event and the notification to other instances, as
    /// data-modifying CTEs fed by the claim. Answers the seats used after the
    /// claim, `None` when it took none. A machine already active fails the
    /// claim (or, active a moment ago on another connection, the statement
    /// with a unique violation). The claims go as arrays, so the text is one
    /// whatever the batch's size and each connection prepares it once.
    async fn take_seats_together(&self, batch: &[Claim]) -> Result<Option<u32>, sea_orm::DbErr> {
        let license_id = batch[0].activation.license_id.to_string();
        // Every claim's churn cap at once: the earliest window start and the
        // lowest cap hold whenever each does (and when that is too strict,
        // the claims run alone and answer for themselves).
        let churn = batch.iter().filter_map(|claim| claim.churn).reduce(|one, other| ChurnLimit {
            since: Ord::min(one.since, other.since),
            limit: Ord::min(one.limit, other.limit),
        });
        let column = |value: fn(&Claim) -> String| batch.iter().map(value).collect::<Vec<_>>();
        let optional = |value: fn(&Claim) -> Option<String>| batch.iter().map(value).collect::<Vec<_>>();
        let number = |value: fn(&Claim) -> i64| batch.iter().map(value).collect::<Vec<_>>();
        let query = sea_orm::sqlx::query(CLAIM_SEATS_TOGETHER)
            .bind(&license_id)
            .bind(column(|claim| claim.activation.id.to_string()))
            .bind(column(|claim| claim.activation.fingerprint.as_str().to_owned()))
            .bind(optional(|claim| claim.activation.name.clone()))
            .bind(optional(|claim| claim.activation.platform.clone()))
            .bind(optional(|claim| claim.activation.app_version.clone()))
            .bind(number(|claim| timestamp(claim.activation.activated_at)))
            .bind(number(|claim| timestamp(claim.activation.last_seen_at)))
            .bind(column(|claim| claim.audit.id.to_string()))
            .bind(number(|claim| timestamp(claim.audit.at)))
            .bind(column(|claim| claim.audit.actor.to_string()))
            .bind(column(|claim| claim.audit.action.clone()))
            .bind(column(|claim| claim.audit.entity_type.clone()))
            .bind(column(|claim| claim.audit.entity_id.clone()))
            .bind(column(|claim| claim.audit.details.to_string()))
            .bind(churn.map(|churn| timestamp(churn.since)))
            .bind(churn.map(|churn| i64::from(churn.limit)));
        let row = query.fetch_one(self.db.writer.get_postgres_connection_pool()).await;
        self.db.views.invalidate();
        let sqlx_error = |error| sea_orm::DbErr::Exec(sea_orm::RuntimeErr::SqlxError(std::sync::Arc::new(error)));
        let taken: Option<i64> = sea_orm::sqlx::Row::try_get(&row.map_err(sqlx_error)?, "taken").map_err(sqlx_error)?;
        taken
            .map(|seats_used| u32::try_from(seats_used).map_err(|error| sea_orm::DbErr::Custom(error.to_string())))
            .transpose()
    }

    /// Postgres's claim alone: one statement — the claim of a seat (with the
    /// churn count), the activation, its audit event and the notification to
    /// other instances as data-modifying CTEs, each feeding the next — run on
    /// its own, so the license row's lock is held for one statement, not for
    /// a transaction's round trips. Activations of one license serialize on
    /// that lock.
    async fn take_seat_in_one_statement(
        &self,
        activation: &Activation,
        churn: Option<ChurnLimit>,
        audit: &AuditEvent,
    ) -> Result<Option<SeatOutcome>, RepositoryError> {
        use sea_orm::sea_query::PostgresQueryBuilder;
        use sea_orm::ConnectionTrait;
        let license_id = activation.license_id.to_string();
        let mut parts = crate::writes::PostgresParts::default();
        let claim = parts.push(
            seat_claim(&license_id, churn).returning_col(licenses::Column::SeatsUsed).build(PostgresQueryBuilder),
        );
        let inserted = parts.push(crate::writes::postgres_insert_for_each(activation_row(activation), "claimed", "id"));
        let audited = parts.push(crate::writes::postgres_insert_for_each(audit_row(audit), "inserted", "id"));
        // The report sees the license as it was before the statement; what the
        // claim took comes from its RETURNING.
        let taken = Expr::cust("(SELECT seats_used FROM claimed)::int8");
        let report = parts.push(claim_report(&license_id, churn, taken).build(PostgresQueryBuilder));
        let sql = format!(
            "WITH claimed AS ({claim}), inserted AS ({inserted}), audited AS ({audited}), \
             notified AS (SELECT pg_notify('{CHANGES_CHANNEL}', '') FROM audited) \
             SELECT report.*, (SELECT count(*) FROM notified) AS notified FROM ({report}) AS report",
        );
        let row = match self.db.writer.query_one_raw(parts.statement(sql)).await {
            Ok(row) => row,
            // A concurrent activation of the same machine won (the partial unique index).
            Err(error) if unique_violation(&error).is_some() => return Ok(None),
            Err(error) => return Err(repository_error(error)),
        };
        self.db.views.invalidate();
        let Some(row) = row else { return Ok(None) };
        ClaimReport::read(&row)?.outcome(churn)
    }

    /// The license of `key` and, when a fingerprint is given, that machine's
    /// live activation: one query.
    async fn read_for_machine(
        &self,
        key: &LicenseKey,
        fingerprint: Option<&Fingerprint>,
    ) -> Result<Option<MachineView>, RepositoryError> {
        if let Some(inline) = &self.db.inline {
            let found = inline.machine(key.as_str(), fingerprint.map(Fingerprint::as_str))?;
            return found.map(|(license, activation)| view(license, activation)).transpose();
        }
        let by_key = licenses::Entity::find().filter(licenses::Column::Key.eq(key.as_str()));
        let Some(fingerprint) = fingerprint else {
            let license = by_key.one(&self.db.reader).await.map_err(repository_error)?;
            return license.map(|license| view(license, None)).transpose();
        };
        // One round trip: the license and this machine's live activation, if any.
        let fingerprint = fingerprint.as_str().to_owned();
        let live_on_this_machine = activations::Relation::License.def().rev().on_condition(move |_, activation| {
            Condition::all()
                .add(Expr::col((activation.clone(), activations::Column::Fingerprint)).eq(fingerprint.clone()))
                .add(Expr::col((activation, activations::Column::DeactivatedAt)).is_null())
        });
        let found = by_key
            .join(JoinType::LeftJoin, live_on_this_machine)
            .select_also(activations::Entity)
            .one(&self.db.reader)
            .await
            .map_err(repository_error)?;
        found.map(|(license, activation)| view(license, activation)).transpose()
    }

    /// The license holding activation `id`, with that activation: one query.
    async fn read_by_activation(&self, id: Uuid) -> Result<Option<MachineView>, RepositoryError> {
        let found = match &self.db.inline {
            Some(inline) => inline.by_activation(&id.to_string())?,
            None => activations::Entity::find_by_id(id.to_string())
                .find_also_related(licenses::Entity)
                .one(&self.db.reader)
                .await
                .map_err(repository_error)?,
        };
        match found {
            Some((activation, Some(license))) => view(license, Some(activation)).map(Some),
            Some((_, None)) => Err(corrupt("activation", "its license is missing")),
            None => Ok(None),
        }
    }
}

#[async_trait]
impl ActivationRepository for SeaOrmStore {
    async fn find_for_machine(
        &self,
        key: &LicenseKey,
        fingerprint: Option<&Fingerprint>,
    ) -> Result<Option<MachineView>, RepositoryError> {
        // Validation's read: kept between writes (see `read_cache`).
        let cache_key =
            ViewKey::Machine(key.as_str().to_owned(), fingerprint.map(|fingerprint| fingerprint.as_str().to_owned()));
        self.db.views.get_or_read(cache_key, self.read_for_machine(key, fingerprint)).await
    }

    async fn find_by_activation(&self, id: Uuid) -> Result<Option<MachineView>, RepositoryError> {
        // A heartbeat's read: kept between writes like a validation's.
        self.db.views.get_or_read(ViewKey::Activation(id), self.read_by_activation(id)).await
    }

    async fn live_activations(&self, license_id: Uuid) -> Result<Vec<Activation>, RepositoryError> {
        use activations::Column;
        activations::Entity::find()
            .filter(Column::LicenseId.eq(license_id.to_string()))
            .filter(Column::DeactivatedAt.is_null())
            .order_by_asc(Column::Id)
            .all(&self.db.reader)
            .await
            .map_err(repository_error)?
            .into_iter()
            .map(activation_from_row)
            .collect()
    }

    async fn take_seat(
        &self,
        activation: &Activation,
        churn: Option<ChurnLimit>,
        audit: &AuditEvent,
    ) -> Result<SeatOutcome, RepositoryError> {
        let license_id = activation.license_id.to_string();
        let already_active = || async {
            let existing = live_activation(&self.db.writer, &license_id, activation.fingerprint.as_str()).await?;
            existing.map_or(Ok(SeatOutcome::NoSeatLeft), |row| activation_from_row(row).map(SeatOutcome::AlreadyActive))
        };
        let taken = match self.db.backend() {
            sea_orm::DbBackend::Sqlite => self.take_seat_in_one_call(activation, churn, audit).await?,
            _ => self.take_seat_combined(activation, churn, audit).await?,
        };
        match taken {
            Some(outcome) => Ok(outcome),
            None => already_active().await,
        }
    }

    async fn touch(&self, id: Uuid, at: OffsetDateTime, app_version: Option<&str>) -> Result<bool, RepositoryError> {
        use activations::Column;
        let mut update = activations::Entity::update_many().col_expr(Column::LastSeenAt, Expr::value(timestamp(at)));
        if let Some(version) = app_version {
            update = update.col_expr(Column::AppVersion, Expr::value(version));
        }
        let update = update.filter(Column::Id.eq(id.to_string())).filter(Column::DeactivatedAt.is_null());
        // No other view goes stale: a check-in changes only what the kept
        // views may show late (see `read_cache`), so the caches stay warm and,
        // on Postgres, no other instance is notified.
        let touched = if self.db.backend() == sea_orm::DbBackend::Sqlite {
            // Committed with the writes queued beside it (a wave of heartbeats).
            use sea_orm::QueryTrait;
            let touch = crate::sqlite_writes::WriteStatement::of(update.as_query());
            self.db.sqlite_transaction_keeping_views(vec![touch]).await? > 0
        } else {
            update.exec(&self.db.writer).await.map_err(repository_error)?.rows_affected > 0
        };
        // Durable before it is answered.
        self.db.durable().await?;
        Ok(touched)
    }

    async fn release_seat(&self, id: Uuid, at: OffsetDateTime, audit: &AuditEvent) -> Result<bool, RepositoryError> {
        use activations::Column;
        let txn = self.db.writer.begin().await.map_err(repository_error)?;
        let Some(row) = activations::Entity::find_by_id(id.to_string()).one(&txn).await.map_err(repository_error)?
        else {
            let _ = txn.rollback().await;
            return Ok(false);
        };
        let released = activations::Entity::update_many()
            .col_expr(Column::DeactivatedAt, Expr::value(timestamp(at)))
            .filter(Column::Id.eq(id.to_string()))
            .filter(Column::DeactivatedAt.is_null())
            .exec(&txn)
            .await
            .map_err(repository_error)?;
        if released.rows_affected == 0 {
            let _ = txn.rollback().await;
            // Someone else released it, maybe on another instance whose
            // notification is still on its way: the caller reads the
            // activation next and must see that release, not a kept view.
            self.db.views.invalidate();
            return Ok(false);
        }
        licenses::Entity::update_many()
            .col_expr(licenses::Column::SeatsUsed, Expr::col(licenses::Column::SeatsUsed).sub(1))
            .filter(licenses::Column::Id.eq(row.license_id))
            .filter(licenses::Column::SeatsUsed.gt(0))
            .exec(&txn)
            .await
            .map_err(repository_error)?;
        audit_events::Entity::insert(audit_row(audit)).exec_without_returning(&txn).await.map_err(repository_error)?;
        self.db.commit(txn).await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On SQLite a check-in commits with the writes queued beside it and,
    /// like before, empties no kept view; taking a seat empties them.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_check_in_on_sqlite_keeps_the_views() {
        use tessera_domain::license::LicenseRepository;
        use tessera_repository_contract::{activation, audit_for, license};

        let dir = tempfile::tempdir().unwrap();
        let store = SeaOrmStore::new(crate::test_support::sqlite_database(dir.path()).await);
        let stored = license(1);
        store.create(&stored, None, &audit_for(&stored, "license.minted", 1)).await.unwrap();
        let machine = activation(&stored, 1, "machine-1");
        let invalidations = store.db.views.invalidations();
        store.take_seat(&machine, None, &audit_for(&stored, "activation.created", 2)).await.unwrap();
        assert!(store.db.views.invalidations() > invalidations, "a new seat empties the views");
        let invalidations = store.db.views.invalidations();
        let later = machine.last_seen_at + time::Duration::minutes(5);
        let touched = futures::future::join_all((0..8).map(|_| store.touch(machine.id, later, Some("2.0.0")))).await;
        assert!(touched.into_iter().all(|touched| touched.unwrap()));
        assert!(!store.touch(Uuid::from_u128(7), later, None).await.unwrap(), "no such activation");
        assert_eq!(store.db.views.invalidations(), invalidations, "check-ins keep the views");
    }

    /// The statement written out in full notifies the channel every instance listens on.
    #[test]
    fn claims_together_notify_the_changes_channel() {
        assert!(CLAIM_SEATS_TOGETHER.contains(&format!("pg_notify('{CHANGES_CHANNEL}', '')")));
    }

    /// On Postgres, activations of one license that arrive together are
    /// written together: rows of one statement share its transaction id
    /// (`xmin`), so 64 concurrent activations take far fewer than 64.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs Postgres: set TESSERA_TEST_DATABASE_URL and run with --include-ignored (CI does)"]
    async fn concurrent_activations_of_one_license_share_their_statements() {
        use tessera_domain::license::LicenseRepository;
        use tessera_repository_contract::{activation, audit_for, license};

        let store = SeaOrmStore::new(crate::test_support::postgres_database().await);
        let mut stored = license(1);
        stored.seats = 1000;
        store.create(&stored, None, &audit_for(&stored, "license.minted", 1)).await.unwrap();
        let machines: Vec<_> = (0..64u64).map(|n| activation(&stored, n, &format!("machine-{n}"))).collect();
        let stored = &stored;
        let store = &store;
        let outcomes = futures::future::join_all(machines.iter().enumerate().map(|(n, machine)| async move {
            store.take_seat(machine, None, &audit_for(stored, "activation.created", 10 + n as u64)).await.unwrap()
        }))
        .await;
        assert!(outcomes.iter().all(|outcome| matches!(outcome, SeatOutcome::Taken { .. })), "{outcomes:?}");
        let transactions = store
            .db
            .writer
            .query_one_raw(sea_orm::Statement::from_sql_and_values(
                sea_orm::DbBackend::Postgres,
                "SELECT count(*) AS rows, count(DISTINCT xmin::text) AS transactions FROM activations WHERE license_id = $1",
                [stored.id.to_string().into()],
            ))
            .await
            .unwrap()
            .unwrap();
        let rows: i64 = transactions.try_get("", "rows").unwrap();
        let transactions: i64 = transactions.try_get("", "transactions").unwrap();
        assert_eq!(rows, 64);
        assert!(transactions <= 16, "64 activations written in {transactions} transactions");
    }
}
