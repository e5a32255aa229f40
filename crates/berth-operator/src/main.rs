//! `berth-operator`: the controller binary.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use berth_operator::build::BuildConfig;
use berth_operator::controller::{self, Context, Metrics};
use berth_operator::ops::http::{self, Health};
use berth_operator::ops::leader::{LeaderElector, LeaseConfig};
use clap::{Parser, Subcommand, ValueEnum};
use futures::FutureExt;
use serde::Deserialize;
use tokio::sync::watch;

#[derive(Parser)]
#[command(name = "berth-operator", version, about = "Berth: serve BERT models on Kubernetes with hot updates")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Print the BertModel CustomResourceDefinition as YAML.
    Crd,
    /// Run the controller.
    Run(RunArgs),
    /// Print, as YAML, the objects the operator makes for the BertModel in FILE.
    Render {
        /// A BertModel manifest (`-`: stdin).
        file: std::path::PathBuf,
        #[arg(long, env = "BERTH_SERVE_IMAGE", default_value = concat!("ghcr.io/berth-dev/berth-serve:", env!("CARGO_PKG_VERSION")))]
        serve_image: String,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// Address of /healthz, /readyz and /metrics.
    #[arg(long, default_value = "127.0.0.1:8080")]
    metrics_bind: SocketAddr,
    /// Namespaces to watch, comma-separated (default: all).
    #[arg(long, value_delimiter = ',')]
    namespaces: Vec<String>,
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Serving image for models that do not name one.
    #[arg(long, env = "BERTH_SERVE_IMAGE", default_value = concat!("ghcr.io/berth-dev/berth-serve:", env!("CARGO_PKG_VERSION")))]
    serve_image: String,
    /// Leader election Lease name.
    #[arg(long, default_value = "berth-operator")]
    lease_name: String,
    /// Namespace of the Lease (the operator pod's own).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    lease_namespace: String,
    /// This replica's identity in the Lease.
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// Run without leader election (a single replica, development).
    #[arg(long)]
    no_leader_election: bool,
    /// Seconds a Lease lasts without renewal.
    #[arg(long, default_value_t = 15)]
    lease_seconds: u64,
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,kube=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn signalled() {
    #[cfg(unix)]
    {
        if let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    init_logging(args.log_format);
    let client = kube::Client::try_default().await.context("connecting to the Kubernetes API")?;
    let metrics = Arc::new(Metrics::new().context("registering metrics")?);
    let health = Health::new(Arc::clone(&metrics));

    let (stop_tx, stop_rx) = watch::channel(false);
    let stop = {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
        .boxed()
        .shared()
    };
    {
        let stop_tx = stop_tx.clone();
        tokio::spawn(async move {
            signalled().await;
            tracing::info!("shutting down");
            let _ = stop_tx.send(true);
        });
    }
    let addr = http::serve(args.metrics_bind, Arc::clone(&health), stop.clone()).await?;
    tracing::info!(%addr, "serving /healthz /readyz /metrics");

    let identity = args.identity.clone().unwrap_or_else(|| format!("berth-operator-{}", std::process::id()));
    let elector = Arc::new(LeaderElector::new(
        client.clone(),
        LeaseConfig {
            name: args.lease_name.clone(),
            namespace: args.lease_namespace.clone(),
            identity: identity.clone(),
            duration: Duration::from_secs(args.lease_seconds),
            renew_every: Duration::from_secs((args.lease_seconds / 3).max(1)),
        },
    ));

    if !args.no_leader_election {
        // Stand by until we lead (or are told to stop).
        loop {
            match elector.try_acquire_or_renew().await {
                Ok(true) => break,
                Ok(false) => health.set_ready(true),
                Err(e) => tracing::warn!(error = %e, "leader election"),
            }
            if *stop_rx.borrow() {
                return Ok(());
            }
            tokio::select! {
                _ = tokio::time::sleep(elector.config().renew_every) => {}
                _ = stop.clone() => return Ok(()),
            }
        }
        tracing::info!(%identity, lease = %args.lease_name, "became the leader");
        // Keep renewing; losing the lease stops this replica (it restarts as a candidate).
        let elector = Arc::clone(&elector);
        let stop_tx = stop_tx.clone();
        let mut stop_rx = stop_rx.clone();
        tokio::spawn(async move {
            let mut last_renewal = tokio::time::Instant::now();
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(elector.config().renew_every) => {}
                    _ = stop_rx.wait_for(|s| *s) => return,
                }
                match elector.try_acquire_or_renew().await {
                    Ok(true) => last_renewal = tokio::time::Instant::now(),
                    Ok(false) => {
                        tracing::error!("lost the leader lease; stopping");
                        let _ = stop_tx.send(true);
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "renewing the lease");
                        if last_renewal.elapsed() >= elector.config().duration {
                            tracing::error!("could not renew the leader lease in time; stopping");
                            let _ = stop_tx.send(true);
                            return;
                        }
                    }
                }
            }
        });
    }

    health.set_ready(true);
    let ctx =
        Arc::new(Context::new(client, BuildConfig { serve_image: args.serve_image.clone() }, metrics, Some(identity)));
    controller::run(ctx, args.namespaces.clone(), stop).await;
    health.set_ready(false);
    if !args.no_leader_election {
        if let Err(e) = elector.release().await {
            tracing::warn!(error = %e, "releasing the lease");
        } else {
            tracing::info!("released the leader lease");
        }
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Crd => {
            let yaml = berth_api::crd::crd_yaml()?;
            std::io::stdout().write_all(yaml.as_bytes())?;
        }
        Command::Render { file, serve_image } => {
            let text = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?
            };
            let config = BuildConfig { serve_image };
            let mut out = std::io::stdout().lock();
            // Every BertModel among the file's documents; other kinds are skipped.
            for document in serde_yaml::Deserializer::from_str(&text) {
                let value = serde_yaml::Value::deserialize(document).context("parsing YAML")?;
                if value.get("kind").and_then(serde_yaml::Value::as_str) != Some("BertModel") {
                    continue;
                }
                let mut model: berth_api::BertModel = serde_yaml::from_value(value).context("parsing the BertModel")?;
                // Objects read from a file have no uid yet; the API server would assign one.
                model.metadata.uid.get_or_insert_with(|| "00000000-0000-0000-0000-000000000000".into());
                model.metadata.namespace.get_or_insert_with(|| "default".into());
                for child in berth_operator::build::children(&model, &config)? {
                    writeln!(out, "---")?;
                    out.write_all(serde_yaml::to_string(&child)?.as_bytes())?;
                }
            }
        }
        Command::Run(args) => {
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(run(args))?;
        }
    }
    Ok(())
}
