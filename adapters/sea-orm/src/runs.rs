//! Work combined in runs: callers' items that arrive while a run on the same
//! key is in progress wait in a queue, and that run takes them in batches
//! until none is left. The queue behind `seat_claims` (Postgres, a run per
//! license) and `sqlite_writes` (SQLite, one run for the one writer). What a
//! batch does is theirs; this only says who runs and what waits.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};

/// The keys with a run in progress, and the items waiting for it. A batch
/// takes at most `MOST` items.
pub(crate) struct Runs<K, T, const MOST: usize> {
    waiting: Mutex<HashMap<K, Vec<T>>>,
}

impl<K, T, const MOST: usize> Default for Runs<K, T, MOST> {
    fn default() -> Self {
        Self { waiting: Mutex::new(HashMap::new()) }
    }
}

impl<K, T, const MOST: usize> std::fmt::Debug for Runs<K, T, MOST> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Runs").finish_non_exhaustive()
    }
}

impl<K: Hash + Eq + Clone, T, const MOST: usize> Runs<K, T, MOST> {
    /// Queues `item` behind the run in progress on `key` and answers `None`,
    /// or, when there is none, starts one: answers a [`Run`] with the item
    /// as its first batch, which the caller MUST carry on (see
    /// [`Run::next_batch`]).
    pub(crate) fn join(self: &Arc<Self>, key: K, item: T) -> Option<(Run<K, T, MOST>, T)> {
        let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        match waiting.get_mut(&key) {
            Some(queue) => {
                queue.push(item);
                None
            }
            None => {
                waiting.insert(key.clone(), Vec::new());
                Some((Run { runs: self.clone(), key, finished: false }, item))
            }
        }
    }

    /// The items that queued on `key` during the last batch (at most
    /// `MOST`); when there are none the run ends here.
    fn next_batch(&self, key: &K) -> Vec<T> {
        let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(queue) = waiting.get_mut(key) else { return Vec::new() };
        if queue.is_empty() {
            waiting.remove(key);
            return Vec::new();
        }
        let rest = queue.split_off(queue.len().min(MOST));
        std::mem::replace(queue, rest)
    }

    /// How many items wait on `key`'s run (for tests).
    #[cfg(test)]
    pub(crate) fn queued(&self, key: &K) -> usize {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner).get(key).map_or(0, Vec::len)
    }

    /// Ends the run on `key` whatever its state; the items still queued are
    /// dropped, so their callers get an error, not a wait forever.
    fn abandon(&self, key: &K) {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner).remove(key);
    }
}

/// A run of batches on one key, from the item that started it until none is
/// waiting. Made when the run starts, before any task carries it, so a run
/// that stops midway — its task panicking, or dropped before it ever ran —
/// is abandoned rather than left to hold the key.
pub(crate) struct Run<K: Hash + Eq + Clone, T, const MOST: usize> {
    runs: Arc<Runs<K, T, MOST>>,
    key: K,
    finished: bool,
}

impl<K: Hash + Eq + Clone, T, const MOST: usize> Run<K, T, MOST> {
    /// The next batch, empty when the run is over.
    pub(crate) fn next_batch(&mut self) -> Vec<T> {
        let batch = self.runs.next_batch(&self.key);
        self.finished = batch.is_empty();
        batch
    }
}

impl<K: Hash + Eq + Clone, T, const MOST: usize> Drop for Run<K, T, MOST> {
    fn drop(&mut self) {
        if !self.finished {
            self.runs.abandon(&self.key);
        }
    }
}
