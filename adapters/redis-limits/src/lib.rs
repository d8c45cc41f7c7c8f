//! One rate-limit budget shared by every Tessera instance: the generic cell
//! rate algorithm (GCRA) kept in Redis and run as one Lua script per check,
//! so a check is atomic however many instances ask at once, and every
//! instance reads the same clock (Redis's `TIME`), not its own.
//!
//! GCRA stores one number per key: the theoretical arrival time (TAT) of the
//! next request at the sustained rate. A request is allowed when it comes no
//! earlier than `TAT - (burst - 1) × interval`; allowing it moves the TAT one
//! interval on. This is the algorithm governor runs in each process (the
//! per-process limits), so a quota means the same thing in both places: a
//! burst of `count` requests, then one every `period / count`.
//!
//! This crate only answers or fails; what to do when Redis cannot answer
//! (the server falls back to its per-process limits) is the caller's choice.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;

/// The check, atomic in Redis. KEYS[1]: the bucket's key. ARGV[1]: the
/// interval in microseconds; ARGV[2]: the burst. Returns `{1, remaining}` or
/// `{0, microseconds until the next request is allowed}`.
const GCRA: &str = r"
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local allowed_at = tat - (burst - 1) * interval
if now < allowed_at then
  return {0, allowed_at - now}
end
local next_tat = tat + interval
-- %d: Lua 5.1 would write a 16-digit number in exponent notation otherwise.
redis.call('SET', KEYS[1], string.format('%d', next_tat), 'PX', math.ceil((next_tat - now) / 1000))
return {1, math.floor((now - (next_tat - burst * interval)) / interval)}
";

/// How long one check may take before the caller is told Redis is down.
const CHECK_TIMEOUT: Duration = Duration::from_millis(250);
/// After a failure, checks fail at once for this long instead of each
/// waiting on an unreachable server; then Redis is tried again.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(1);

/// `count` requests per `period`, `count` of them at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub count: u32,
    pub period: Duration,
}

impl Quota {
    fn interval_micros(self) -> u64 {
        (self.period.as_micros() / u128::from(self.count.max(1))).max(1) as u64
    }
}

/// What one check decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed { remaining: u32 },
    Limited { retry_after: Duration },
}

#[derive(Debug, thiserror::Error)]
pub enum BudgetError {
    /// The URL is not a Redis URL. Only [`RedisBudget::new`] returns it.
    #[error("`{url}` is not a Redis URL: {reason}")]
    InvalidUrl { url: String, reason: String },
    /// Redis did not answer: refused, reset, timed out, or a recent failure
    /// is still being waited out.
    #[error("Redis is unreachable: {0}")]
    Unreachable(String),
    /// Redis answered with an error or with something the script never returns.
    #[error("Redis refused the rate-limit check: {0}")]
    Refused(String),
}

/// The shared budget: a client of one Redis server (or a proxy to a cluster's
/// primary). Cheap to share between tasks.
pub struct RedisBudget {
    client: redis::Client,
    prefix: String,
    script: redis::Script,
    connection: Mutex<Connection>,
}

/// The connection, or when connecting last failed (so the next try waits).
enum Connection {
    Open(ConnectionManager),
    Closed { retry_at: Option<Instant> },
}

impl RedisBudget {
    /// A budget on the Redis at `url` (`redis://host:port/db`), its keys
    /// under `prefix`. Does not connect: the first check does, and a Redis
    /// that is down at start-up is tried again later.
    pub fn new(url: &str, prefix: &str) -> Result<Self, BudgetError> {
        let client = redis::Client::open(url)
            .map_err(|error| BudgetError::InvalidUrl { url: url.to_owned(), reason: error.to_string() })?;
        Ok(Self {
            client,
            prefix: prefix.to_owned(),
            script: redis::Script::new(GCRA),
            connection: Mutex::new(Connection::Closed { retry_at: None }),
        })
    }

    /// Takes one request from `key`'s budget in `bucket` (a route, say).
    ///
    /// MUST return [`BudgetError::Unreachable`] when Redis does not answer
    /// within 250 ms or failed less than a second ago, and
    /// [`BudgetError::Refused`] when it answers with an error.
    pub async fn check(&self, bucket: &str, key: &str, quota: Quota) -> Result<Decision, BudgetError> {
        let mut connection = self.connection().await?;
        let redis_key = format!("{}:{bucket}:{key}", self.prefix);
        let mut invocation = self.script.key(redis_key);
        invocation.arg(quota.interval_micros()).arg(quota.count.max(1));
        let answer = tokio::time::timeout(CHECK_TIMEOUT, invocation.invoke_async::<(i64, i64)>(&mut connection)).await;
        match answer {
            Ok(Ok((1, remaining))) => {
                Ok(Decision::Allowed { remaining: remaining.clamp(0, i64::from(u32::MAX)) as u32 })
            }
            Ok(Ok((0, wait))) => {
                Ok(Decision::Limited { retry_after: Duration::from_micros(wait.max(0).unsigned_abs()) })
            }
            Ok(Ok(other)) => Err(BudgetError::Refused(format!("unexpected answer {other:?}"))),
            Ok(Err(error)) if is_connection_error(&error) => Err(self.failed(error.to_string())),
            Ok(Err(error)) => Err(BudgetError::Refused(error.to_string())),
            Err(_) => Err(self.failed(format!("no answer within {} ms", CHECK_TIMEOUT.as_millis()))),
        }
    }

    /// The open connection, or a new one; refused at once while a recent
    /// failure is waited out.
    async fn connection(&self) -> Result<ConnectionManager, BudgetError> {
        {
            let state = self.connection.lock().expect("not poisoned");
            match &*state {
                Connection::Open(manager) => return Ok(manager.clone()),
                Connection::Closed { retry_at: Some(at) } if Instant::now() < *at => {
                    return Err(BudgetError::Unreachable("waiting before trying again".into()))
                }
                Connection::Closed { .. } => {}
            }
        }
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CHECK_TIMEOUT))
            .set_response_timeout(Some(CHECK_TIMEOUT))
            .set_number_of_retries(1);
        match tokio::time::timeout(CHECK_TIMEOUT * 2, self.client.get_connection_manager_with_config(config)).await {
            Ok(Ok(manager)) => {
                *self.connection.lock().expect("not poisoned") = Connection::Open(manager.clone());
                Ok(manager)
            }
            Ok(Err(error)) => Err(self.failed(error.to_string())),
            Err(_) => Err(self.failed("connecting took too long".into())),
        }
    }

    /// Records a failure: the connection is dropped and checks fail at once
    /// for a second.
    fn failed(&self, reason: String) -> BudgetError {
        *self.connection.lock().expect("not poisoned") =
            Connection::Closed { retry_at: Some(Instant::now() + RETRY_AFTER_FAILURE) };
        BudgetError::Unreachable(reason)
    }
}

fn is_connection_error(error: &redis::RedisError) -> bool {
    error.is_io_error()
        || error.is_connection_refusal()
        || error.is_connection_dropped()
        || error.is_timeout()
        || error.is_unrecoverable_error()
}
