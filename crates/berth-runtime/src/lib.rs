//! The bootstrap every Berth binary shares, so all of them log the same JSON, stop on
//! the same signals and answer health checks the same way.
//!
//! - [`logging`]: `text` or `json` (one flat object per event) on stderr, `RUST_LOG`
//!   filters.
//! - [`shutdown`]: a future for SIGTERM/SIGINT, and [`shutdown::Stop`], a stop signal
//!   many tasks can wait on and any one can trigger.
//! - [`flags`]: flags whose values are berth-api's enums.
//! - [`health`]: `/healthz`, `/readyz` and `/metrics` (a Prometheus registry).

pub mod flags;
pub mod health;
pub mod logging;
pub mod shutdown;

pub use flags::flag;
pub use health::Health;
pub use logging::{LogFormat, init_logging};
pub use shutdown::{Stop, terminated};
