//! Table models, private to the adapter: the domain never sees a row.

pub(crate) mod activations;
pub(crate) mod artifacts;
pub(crate) mod audit_events;
pub(crate) mod customers;
pub(crate) mod deliveries;
pub(crate) mod flags;
pub(crate) mod license_effects;
pub(crate) mod licenses;
pub(crate) mod releases;
pub(crate) mod storefront_events;
pub(crate) mod usage_events;
