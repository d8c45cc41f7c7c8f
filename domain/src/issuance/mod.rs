//! The issuance port family: signing license tokens ([`Signer`]) and the use
//! cases that mint and change licenses ([`IssuanceService`]).

mod claims;
mod errors;
mod service;
mod signer;
mod term;

pub use claims::{LicenseClaims, LICENSE_TOKEN_TYPE};
pub use errors::*;
pub use service::{IssuanceService, MintLicense, Minted, RenewLicense};
pub use signer::{SignError, Signer};
