//! In-memory adapters for every port, so domain and HTTP tests run without a
//! database, a key file or a real clock.

mod activations;
mod audit_log;
mod clock;
mod customers;
mod licenses;
mod mailer;
mod outbox;
mod random;
mod releases;
mod signer;
mod stats;
mod store;
mod storefront_events;
mod usage;

pub use clock::ManualClock;
pub use mailer::InMemoryMailer;
pub use random::SeededRandomSource;
pub use releases::InMemoryArtifactStore;
pub use signer::InMemorySigner;
pub use store::InMemoryStore;
