//! Releases and their files: what a product ships, which of it a license may
//! download, and the update feeds apps' built-in updaters read.
//!
//! - A [`Release`] is one semver version of a product on a channel
//!   (`stable`, `beta`, …), `draft` → `published` → `yanked`; only published
//!   releases are offered.
//! - An [`Artifact`] is one file of a release for a platform and arch, with
//!   its size, SHA-256 and Tessera's Ed25519 signature of its bytes (what
//!   Sparkle's `sparkle:edSignature` is), plus the operator's own updater
//!   signature where an updater needs one of its own (Tauri).
//! - [`entitlement`] decides which releases a license may use; the same rule
//!   answers `/v1/validate` about an app version.
//! - Buyers fetch files through [`DownloadLinks`]: signed, expiring, one file each.
//! - The bytes live behind [`ArtifactStore`]; the rows behind [`ReleaseRepository`].

pub mod entitlement;
mod links;
mod model;
mod repository;
mod service;

pub use links::*;
pub use model::*;
pub use repository::*;
pub use service::*;
