//! Logging: one subscriber setup for every binary. Logs go to stderr everywhere, so
//! stdout stays free for what a command prints (YAML, addresses, tables), and JSON
//! events are flattened (`{"timestamp":..,"level":..,"message":..,"field":..}`) so log
//! pipelines see the same shape from the operator and the serving pods.

pub use berth_api::LogFormat;
use tracing_subscriber::EnvFilter;

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("a global tracing subscriber is already set")]
    AlreadySet,
}

impl LogError {
    pub fn category(&self) -> &'static str {
        "logging"
    }
}

/// Install the global subscriber. `default_filter` applies when `RUST_LOG` is unset
/// (the operator quiets kube's own info logs; the other binaries use `info`).
pub fn init_logging(format: LogFormat, default_filter: &str) -> Result<(), LogError> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    }
    .map_err(|_| LogError::AlreadySet)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_init_is_an_error_not_a_panic() {
        let first = init_logging(LogFormat::Json, "info");
        assert!(first.is_ok());
        assert!(matches!(init_logging(LogFormat::Text, "info"), Err(LogError::AlreadySet)));
    }

    #[test]
    fn formats_parse_from_flags() {
        use clap::builder::TypedValueParser;
        let cmd = clap::Command::new("t");
        let parser = crate::flags::flag::<LogFormat>(LogFormat::NAMES);
        assert_eq!(parser.parse_ref(&cmd, None, std::ffi::OsStr::new("json")).ok(), Some(LogFormat::Json));
        assert_eq!(parser.parse_ref(&cmd, None, std::ffi::OsStr::new("text")).ok(), Some(LogFormat::Text));
        assert!(parser.parse_ref(&cmd, None, std::ffi::OsStr::new("xml")).is_err());
    }
}
