//! `kubectl berth`: read and steer Berth rollouts.
//!
//! Installed as `kubectl-berth` on the PATH, kubectl finds it as a plugin.

mod actions;
mod render;

use anyhow::Context;
use berth_api::BertModel;
use clap::{Parser, Subcommand};
use futures::{StreamExt, TryStreamExt};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};

use crate::actions::Action;

#[derive(Parser)]
#[command(name = "kubectl berth", version, about = "Inspect and steer Berth BertModel rollouts")]
struct Cli {
    /// Namespace (defaults to the kubeconfig context's namespace).
    #[arg(short, long, global = true)]
    namespace: Option<String>,
    /// Every namespace (status only).
    #[arg(short = 'A', long, global = true)]
    all_namespaces: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The rollout as a table; with a NAME, the full picture (traffic, steps, analysis,
    /// rejected versions, conditions).
    Status {
        name: Option<String>,
        /// Keep printing as the model changes.
        #[arg(short, long)]
        watch: bool,
    },
    /// Hold the rollout at its current step.
    Pause { name: String },
    /// Continue a paused rollout.
    Resume { name: String },
    /// Roll the canary back now and reject its version.
    Abort { name: String },
    /// Skip the remaining steps and make the canary stable.
    Promote { name: String },
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let client = Client::try_default().await.context("no usable kubeconfig (set KUBECONFIG)")?;
    let namespace = cli.namespace.clone().unwrap_or_else(|| client.default_namespace().to_string());
    let api: Api<BertModel> =
        if cli.all_namespaces { Api::all(client.clone()) } else { Api::namespaced(client.clone(), &namespace) };

    let (name, action) = match cli.command {
        Command::Status { name, watch } => return status(&api, name.as_deref(), watch).await,
        Command::Pause { name } => (name, Action::Pause),
        Command::Resume { name } => (name, Action::Resume),
        Command::Abort { name } => (name, Action::Abort),
        Command::Promote { name } => (name, Action::Promote),
    };
    let api = Api::<BertModel>::namespaced(client, &namespace);
    actions::run(&api, &name, action).await.with_context(|| format!("{namespace}/{name}"))?;
    println!("{}", action.done_message(&name));
    Ok(())
}

async fn status(api: &Api<BertModel>, name: Option<&str>, watch: bool) -> anyhow::Result<()> {
    let print = |models: &[BertModel]| match name {
        Some(_) => models.iter().for_each(|m| println!("{}", render::detail(m, jiff::Timestamp::now()))),
        None => print!("{}", render::summary_table(models)),
    };
    let mut models: Vec<BertModel> = match name {
        Some(n) => vec![api.get(n).await.with_context(|| format!("bertmodel {n}"))?],
        None => api.list(&Default::default()).await?.items,
    };
    print(&models);
    if !watch {
        return Ok(());
    }
    let config = match name {
        Some(n) => watcher::Config::default().fields(&format!("metadata.name={n}")),
        None => watcher::Config::default(),
    };
    let mut stream = watcher(api.clone(), config).applied_objects().boxed();
    while let Some(changed) = stream.try_next().await? {
        let key = (changed.namespace(), changed.name_any());
        match models.iter_mut().find(|m| (m.namespace(), m.name_any()) == key) {
            Some(existing) if existing.status == changed.status && existing.spec == changed.spec => continue,
            Some(existing) => *existing = changed,
            None => models.push(changed),
        }
        println!("---");
        print(&models);
    }
    Ok(())
}
