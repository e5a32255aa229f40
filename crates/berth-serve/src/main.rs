//! berth-serve: parse flags, set up logging, run until SIGTERM/SIGINT, drain.

use anyhow::Context;
use berth_serve::cli::{Args, LogFormat};
use clap::Parser;
use tracing_subscriber::EnvFilter;

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.init(),
    }
}

async fn terminated() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM received"),
                    _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only SIGINT stops the server");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    init_logging(args.log_format);
    let address_file = args.address_file.clone();
    let options = args.into_options().map_err(anyhow::Error::msg)?;
    let server = berth_serve::server::start(options).await.context("starting berth-serve")?;
    if let Some(path) = address_file {
        let body = serde_json::json!({
            "rest": server.rest_addr.to_string(),
            "grpc": server.grpc_addr.to_string(),
        });
        // Written whole then renamed so a reader never sees half a file.
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, body.to_string()).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    }
    terminated().await;
    server.shutdown().await;
    Ok(())
}
