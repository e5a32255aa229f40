//! `berth-operator`: the controller binary.

use std::io::Write;

use clap::{Parser, Subcommand};

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
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Crd => {
            let yaml = berth_api::crd::crd_yaml()?;
            std::io::stdout().write_all(yaml.as_bytes())?;
        }
    }
    Ok(())
}
