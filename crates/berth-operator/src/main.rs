//! `berth-operator`: the controller binary.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use berth_operator::build::{BuildConfig, Children};
use berth_operator::controller::{self, Context, Metrics};
use berth_operator::ops::election;
use berth_operator::ops::leader::LeaseConfig;
use berth_runtime::{Health, LogFormat, Stop, health};
use clap::{Parser, Subcommand};
use serde::Deserialize;

#[derive(Parser)]
#[command(name = "berth-operator", version, about = "Berth: serve BERT models on Kubernetes with hot updates")]
struct Cli {
    #[command(subcommand)]
    command: Command,
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
    #[arg(long, default_value = "text", value_parser = berth_runtime::flag::<LogFormat>(LogFormat::NAMES))]
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

impl RunArgs {
    fn lease(&self, identity: &str) -> LeaseConfig {
        LeaseConfig {
            name: self.lease_name.clone(),
            namespace: self.lease_namespace.clone(),
            identity: identity.to_string(),
            duration: Duration::from_secs(self.lease_seconds),
            renew_every: Duration::from_secs((self.lease_seconds / 3).max(1)),
        }
    }
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    berth_runtime::init_logging(args.log_format, "info,kube=warn")?;
    let client = kube::Client::try_default().await.context("connecting to the Kubernetes API")?;
    let metrics = Arc::new(Metrics::new().context("registering metrics")?);
    let health = Health::new(metrics.registry.clone());
    let stop = Stop::on_signals();
    let addr = health::serve(args.metrics_bind, Arc::clone(&health), stop.future()).await?;
    tracing::info!(%addr, "serving /healthz /readyz /metrics");

    let identity = args.identity.clone().unwrap_or_else(|| format!("berth-operator-{}", std::process::id()));
    let leadership = match args.no_leader_election {
        true => None,
        false => match election::lead(client.clone(), args.lease(&identity), &health, &stop).await {
            Some(leadership) => Some(leadership),
            None => return Ok(()), // stopped while standing by
        },
    };
    health.set_ready(true);
    let ctx = Arc::new(Context::new(client, BuildConfig { serve_image: args.serve_image }, metrics, Some(identity)));
    controller::run(ctx, args.namespaces, stop.future()).await;
    health.set_ready(false);
    if let Some(leadership) = leadership {
        leadership.release().await;
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
                for child in Children::build(&model, &config)?.to_values()? {
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
