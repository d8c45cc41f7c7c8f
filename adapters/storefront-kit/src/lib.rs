//! The parts every signed-JSON storefront adapter (Lemon Squeezy, Paddle,
//! Stripe, Polar, custom checkouts) needs and none should write again:
//! [`signature`] for HMAC-SHA256 webhook signatures and their timestamp
//! windows, [`json`] for reading providers' event documents by path, and
//! [`api`] for the REST lookups that complete an event.

pub mod api;
pub mod json;
pub mod signature;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
