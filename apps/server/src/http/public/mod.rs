//! The public listener's endpoints: what buyers' apps, storefronts and buyers
//! themselves call.

pub mod activation;
pub mod health;
pub mod jwks;
pub mod portal;
pub mod releases;
pub mod usage;
pub mod webhooks;
