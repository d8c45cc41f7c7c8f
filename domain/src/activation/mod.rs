//! Machine activation: activate, validate, heartbeat and deactivate, with exact
//! seat limits (kept by [`crate::license::ActivationRepository`]), signed leases
//! and a cap on activation churn.

mod errors;
mod service;

pub use errors::*;
pub use service::{Activate, ActivationDeps, ActivationPolicy, ActivationService, Leased, Validation, ValidationCode};
