//! The `RandomSource` port and the identifiers built from it.

use time::OffsetDateTime;
use uuid::Uuid;

/// Unpredictable bytes for license keys and identifiers.
pub trait RandomSource: Send + Sync + 'static {
    /// Fills `dest` with cryptographically secure random bytes. Infallible: an
    /// adapter that cannot get entropy must panic rather than return weak bytes.
    fn fill(&self, dest: &mut [u8]);
}

/// A time-ordered UUIDv7: sorting by id sorts by creation time, which makes
/// keyset pagination (`WHERE id < cursor ORDER BY id DESC`) cheap and stable.
pub fn new_id(random: &dyn RandomSource, now: OffsetDateTime) -> Uuid {
    let mut bytes = [0u8; 10];
    random.fill(&mut bytes);
    let millis = (now.unix_timestamp_nanos() / 1_000_000).max(0) as u64;
    uuid::Builder::from_unix_timestamp_millis(millis, &bytes).into_uuid()
}
