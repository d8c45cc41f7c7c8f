//! `tessera-server`: configuration, start-up and the HTTP shell around the
//! domain's use cases. The binary (`main.rs`) only parses the command line.

pub mod bootstrap;
pub mod config;
pub mod connections;
pub mod console_sessions;
pub mod cookies;
pub mod counting_signer;
pub mod demo_data;
pub mod http;
pub mod metrics;
pub mod outbox_worker;
pub mod rate_limit;
pub mod state;
pub mod system_clock;
pub mod telemetry;
pub mod uploads;
