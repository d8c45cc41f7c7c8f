//! The issuance port family: signing license and lease tokens ([`Signer`]),
//! checking leases ([`LeaseVerifier`]) and the use cases that mint and change
//! licenses ([`IssuanceService`]).

mod claims;
mod errors;
mod import;
mod service;
mod signer;
mod term;

pub use claims::{
    DownloadLinkClaims, LeaseClaims, LicenseClaims, PortalLinkClaims, DOWNLOAD_LINK_TOKEN_TYPE, LEASE_TOKEN_TYPE,
    LICENSE_TOKEN_TYPE, PORTAL_LINK_TOKEN_TYPE,
};
pub use errors::*;
pub use import::{ImportLicense, ImportOutcome, IMPORT_SOURCE, LEGACY_BLOB_PREFIX, MAX_IMPORT_BATCH};
pub(crate) use service::NewLicenseWriter;
pub use service::{IssuanceService, MintLicense, Minted, RenewLicense, SubscriptionCharge};
pub use signer::{
    DownloadLinkRejected, DownloadLinkVerifier, LeaseRejected, LeaseVerifier, PortalLinkRejected, PortalLinkVerifier,
    SignError, Signer,
};
