//! The `Clock` port: the only way the core learns the time.

use time::OffsetDateTime;

/// Tells the current time. Tests use a fixed or manually advanced clock.
pub trait Clock: Send + Sync + 'static {
    /// The current UTC time. Infallible.
    fn now(&self) -> OffsetDateTime;
}

/// `now` truncated to whole seconds: the precision of every stored timestamp and
/// token claim, so that what is stored, signed and returned always agrees.
pub fn now_seconds(clock: &dyn Clock) -> OffsetDateTime {
    let now = clock.now();
    now.replace_nanosecond(0).unwrap_or(now)
}
