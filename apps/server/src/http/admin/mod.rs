//! The admin listener's endpoints: the operator's API behind the admin token.

pub mod audit;
pub mod auth;
pub mod customers;
pub mod deliveries;
pub mod import;
pub mod licenses;
pub mod machines;
pub mod page;
pub mod releases;
pub mod signing_keys;
pub mod stats;
pub mod storefront_events;
pub mod usage;
