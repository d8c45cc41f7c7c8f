//! The machine views `/v1/validate` reads, kept in memory between writes.
//!
//! Validation is the hot read: an app checks its license at every start and
//! every few hours, and each check was one query on the driver's thread (a
//! hand-off there and back, most of a validation's cost). A heartbeat reads
//! its machine's view by activation id the same way. Here a view is kept
//! until *anything* is written, by this process or — on Postgres — by any
//! other: every write bumps one generation number and a generation that
//! moved empties the cache. That is coarse on purpose. It needs no reasoning
//! about which write touches which license, so a revoke, a suspension or a
//! deactivation can never be missed; writes are rare next to validations,
//! so the cache stays warm where it pays.
//!
//! The one write that does not empty it is a check-in (`touch`): it changes
//! only an activation's `last_seen_at` and `app_version`, which no decision
//! reads from these views (the port says they may lag there). Heartbeats are
//! the most frequent write of a deployment, so otherwise every machine's
//! check-in would empty every other machine's validation.
//!
//! The order that makes it exact in one process: a reader notes the
//! generation *before* it queries, and stores its answer only if the
//! generation is still that one after; a writer bumps the generation *after*
//! it commits. A read that raced a write is therefore never kept, and a read
//! that starts after a write's answer sees that write.
//!
//! Across instances (Postgres) the bump arrives by `LISTEN/NOTIFY`: each
//! committed write notifies `tessera_changes` and every instance's listener
//! bumps its own generation. While the listener is not connected, nothing is
//! cached.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::RwLock;

use tessera_domain::license::MachineView;
use tessera_domain::repository::RepositoryError;

/// Above this many views the cache starts over (a stream of unknown keys
/// cannot grow it without bound).
const MAX_ENTRIES: usize = 50_000;

/// What a view is looked up by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum ViewKey {
    /// (license key, fingerprint): what one validation asks.
    Machine(String, Option<String>),
    /// An activation's id: what a heartbeat asks.
    Activation(uuid::Uuid),
}

#[derive(Default)]
pub(crate) struct ReadCache {
    generation: AtomicU64,
    /// False while a Postgres listener is (re)connecting: changes made by
    /// other instances would go unnoticed, so nothing is kept.
    enabled: AtomicBool,
    views: RwLock<Views>,
}

#[derive(Default)]
struct Views {
    /// The generation these views were read at.
    generation: u64,
    by_key: HashMap<ViewKey, Option<MachineView>>,
}

impl std::fmt::Debug for ReadCache {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ReadCache")
            .field("generation", &self.generation.load(Ordering::Relaxed))
            .field("enabled", &self.enabled.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// A read in progress: the generation it started at.
pub(crate) struct Ticket(u64);

impl ReadCache {
    pub(crate) fn new(enabled: bool) -> Self {
        Self { enabled: AtomicBool::new(enabled), ..Self::default() }
    }

    pub(crate) fn enabled(&self) -> bool {
        self.enabled.load(Ordering::SeqCst)
    }

    /// Something was written: every view read before now is stale.
    pub(crate) fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Writes that emptied the views so far (for tests).
    #[cfg(test)]
    pub(crate) fn invalidations(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Turns keeping views on or off (off empties the cache).
    pub(crate) fn set_enabled(&self, enabled: bool) {
        self.invalidate();
        self.enabled.store(enabled, Ordering::SeqCst);
        self.invalidate();
    }

    /// The view of `key`: the kept one while no write came after it, else
    /// what `read` answers, kept for the next caller unless a write raced it.
    pub(crate) async fn get_or_read(
        &self,
        key: ViewKey,
        read: impl std::future::Future<Output = Result<Option<MachineView>, RepositoryError>>,
    ) -> Result<Option<MachineView>, RepositoryError> {
        let ticket = match self.get(&key) {
            Ok(view) => return Ok(view),
            Err(ticket) => ticket,
        };
        let view = read.await?;
        self.keep(ticket, key, &view);
        Ok(view)
    }

    /// The view of `key` if one is kept and current; otherwise a ticket to
    /// [`Self::keep`] what the caller then reads.
    fn get(&self, key: &ViewKey) -> Result<Option<MachineView>, Ticket> {
        let ticket = Ticket(self.generation.load(Ordering::SeqCst));
        if !self.enabled.load(Ordering::SeqCst) {
            return Err(ticket);
        }
        let views = self.views.read().expect("not poisoned");
        match views.by_key.get(key) {
            Some(view) if views.generation == ticket.0 => Ok(view.clone()),
            _ => Err(ticket),
        }
    }

    /// Keeps `view`, read under `ticket`, unless something was written since.
    fn keep(&self, ticket: Ticket, key: ViewKey, view: &Option<MachineView>) {
        if !self.enabled.load(Ordering::SeqCst) {
            return;
        }
        let mut views = self.views.write().expect("not poisoned");
        // Checked under the lock: a write that committed after our read began
        // has bumped the generation, and then this answer is not kept.
        if self.generation.load(Ordering::SeqCst) != ticket.0 {
            return;
        }
        if views.generation != ticket.0 || views.by_key.len() >= MAX_ENTRIES {
            views.by_key.clear();
            views.generation = ticket.0;
        }
        views.by_key.insert(key, view.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> ViewKey {
        ViewKey::Machine(name.to_owned(), None)
    }

    #[test]
    fn a_view_is_kept_until_the_next_write() {
        let cache = ReadCache::new(true);
        let ticket = cache.get(&key("A")).unwrap_err();
        cache.keep(ticket, key("A"), &None);
        assert_eq!(cache.get(&key("A")).ok(), Some(None));
        cache.invalidate();
        assert!(cache.get(&key("A")).is_err(), "a write makes every view stale");
    }

    #[test]
    fn a_read_that_raced_a_write_is_not_kept() {
        let cache = ReadCache::new(true);
        let ticket = cache.get(&key("A")).unwrap_err();
        cache.invalidate(); // a write commits while the read is under way
        cache.keep(ticket, key("A"), &None);
        assert!(cache.get(&key("A")).is_err());
    }

    #[test]
    fn nothing_is_kept_while_disabled() {
        let cache = ReadCache::new(true);
        let ticket = cache.get(&key("A")).unwrap_err();
        cache.keep(ticket, key("A"), &None);
        cache.set_enabled(false);
        assert!(cache.get(&key("A")).is_err());
        let ticket = cache.get(&key("A")).unwrap_err();
        cache.keep(ticket, key("A"), &None);
        assert!(cache.get(&key("A")).is_err());
        cache.set_enabled(true);
        assert!(cache.get(&key("A")).is_err(), "views kept before it was disabled are gone");
    }
}
