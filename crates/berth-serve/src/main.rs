//! berth-serve: parse flags, set up logging, run until SIGTERM/SIGINT, drain.

use anyhow::Context;
use berth_serve::cli::Args;
use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    berth_runtime::init_logging(args.log_format, "info")?;
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
    berth_runtime::terminated().await;
    server.shutdown().await;
    Ok(())
}
