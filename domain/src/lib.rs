//! Tessera's pure core: the license model, the rules of issuance and the ports
//! (traits) through which the core reaches storage, keys, time and randomness.
//!
//! Nothing here performs I/O. Adapters in `adapters/` implement the ports
//! ([`ports`] lists every one, and [`ports::Store`] is the bound of a whole
//! store); the apps in `apps/` wire adapters to the use-case services. A test
//! (`tests/tests/dependency_rules.rs`) fails if this crate ever depends on a
//! crate that does I/O.
//!
//! Port families, one module each:
//! - [`license`]: storing and finding licenses ([`license::LicenseRepository`]);
//! - [`issuance`]: signing tokens ([`issuance::Signer`]) and the use cases that
//!   mint and change licenses ([`issuance::IssuanceService`]);
//! - [`activation`]: machines taking seats and holding signed leases
//!   ([`activation::ActivationService`], stored through [`license::ActivationRepository`]);
//! - [`storefront`]: turning a storefront's webhook into domain events ([`storefront::Storefront`]);
//! - [`mail`]: sending one email through a provider ([`mail::Mailer`]);
//! - [`portal`]: buyers' self-service (their licenses by email, freeing machines);
//! - [`release`]: releases, their files and who may download them
//!   ([`release::ReleaseRepository`], [`release::ArtifactStore`]);
//! - [`audit`]: who changed what ([`audit::AuditLog`]); [`stats`]: counts for the operator;
//! - [`clock`] and [`random`]: time and entropy, so tests can pin both.

pub mod activation;
pub mod audit;
pub mod catalog;
pub mod clock;
pub mod customer;
pub mod issuance;
pub mod license;
pub mod licensing;
pub mod mail;
pub mod page;
pub mod portal;
pub mod portal_links;
pub mod ports;
pub mod random;
pub mod release;
pub mod reports;
pub mod repository;
pub mod secret;
pub mod stats;
pub mod storefront;
pub mod text;
pub mod usage;

pub use time::OffsetDateTime;
