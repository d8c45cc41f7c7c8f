//! In-memory adapters for every port, so domain and HTTP tests run without a
//! database, a key file or a real clock.

mod clock;
mod license_repository;
mod mailer;
mod outbox;
mod random;
mod signer;

pub use clock::ManualClock;
pub use license_repository::InMemoryLicenseRepository;
pub use mailer::InMemoryMailer;
pub use random::SeededRandomSource;
pub use signer::InMemorySigner;
