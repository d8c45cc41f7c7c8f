//! Every port of the domain in one place: what an adapter implements to plug
//! a technology in. Each trait's methods say which errors they MUST return.

/// The audit trail (written by each port in the write's own transaction).
pub use crate::audit::AuditLog;
/// The time.
pub use crate::clock::Clock;
/// Customers by email, and moving their licenses to a new address.
pub use crate::customer::CustomerRepository;
/// Checking a download link a buyer's app or browser follows.
pub use crate::issuance::DownloadLinkVerifier;
/// Checking a lease a machine presents.
pub use crate::issuance::LeaseVerifier;
/// Checking a portal link a buyer opens.
pub use crate::issuance::PortalLinkVerifier;
/// Signing license, lease, portal-link and download-link tokens.
pub use crate::issuance::Signer;
/// Machines: take a seat exactly up to the limit, release it, find a machine's activation.
pub use crate::license::ActivationRepository;
/// Licenses: create once, find, list, update conditionally on their version.
pub use crate::license::LicenseRepository;
/// The email outbox: queue once, claim, settle.
pub use crate::mail::DeliveryRepository;
/// One email through a provider.
pub use crate::mail::Mailer;
/// Entropy for ids and keys.
pub use crate::random::RandomSource;
/// Where artifacts' bytes live.
pub use crate::release::ArtifactStore;
/// Releases and their artifacts' rows.
pub use crate::release::ReleaseRepository;
/// Counts for the operator's dashboard.
pub use crate::stats::StatsReader;
/// A storefront's webhook dialect: authenticate and translate, no I/O.
pub use crate::storefront::Storefront;
/// Raw storefront deliveries, stored before they are processed, and their outcomes.
pub use crate::storefront::StorefrontEventLog;
/// Usage events and flags from activated machines.
pub use crate::usage::UsageRepository;

/// Everything the use cases store, as one bound: what a store adapter
/// (`SeaOrmStore`, `InMemoryStore`) implements as a whole.
pub trait Store:
    LicenseRepository
    + ActivationRepository
    + AuditLog
    + StorefrontEventLog
    + DeliveryRepository
    + StatsReader
    + UsageRepository
    + CustomerRepository
    + ReleaseRepository
{
}

impl<T> Store for T where
    T: LicenseRepository
        + ActivationRepository
        + AuditLog
        + StorefrontEventLog
        + DeliveryRepository
        + StatsReader
        + UsageRepository
        + CustomerRepository
        + ReleaseRepository
{
}
