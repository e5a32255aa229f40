//! One test's world: a ground (berth-local or a real cluster), a namespace, a model
//! repository, and the operator running against it; the scenarios in `tests/e2e/`
//! use only this, so they run unchanged on both grounds.

use std::time::{Duration, Instant};

use berth_api::{BertModel, BertModelStatus, SourceLocation};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams};
use serde_json::{Value, json};

use crate::cluster::{self, ClusterGround};
use crate::ground::Ground;
use crate::local::{self, LocalGround};
use crate::repo::Repo;
use crate::{MODEL, models_dir};

enum Backend {
    Local(Box<LocalGround>),
    Cluster(ClusterGround),
}

pub struct Harness {
    pub ground: Ground,
    /// The BertModel's name.
    pub name: String,
    /// Where the test's objects live.
    pub namespace: String,
    pub repo: Repo,
    pub client: kube::Client,
    pub api: Api<BertModel>,
    backend: Backend,
}

impl Harness {
    /// The model `tiny`; pods skip the warm-up over every sequence length (the tiny
    /// models need none) where the ground lets the harness choose berth-serve's flags.
    pub async fn start() -> Harness {
        Self::start_named(MODEL, "--warmup=false").await
    }

    /// The model `name`; `serve_args` go to every berth-serve on berth-local (on a
    /// cluster the chart's serving image runs with the operator's flags only).
    pub async fn start_named(name: &str, serve_args: &str) -> Harness {
        assert!(models_dir().join("tiny/1/model.onnx").exists(), "run `make models` first");
        let ground = Ground::from_env();
        let (backend, namespace, repo, client) = match &ground {
            Ground::Local => {
                let l = LocalGround::start(serve_args).await;
                let repo = Repo::new(l.repo_path(), false);
                let client = l.client();
                (Backend::Local(Box::new(l)), local::NAMESPACE.to_string(), repo, client)
            }
            Ground::Cluster { kubeconfig, host_models } => {
                let c = ClusterGround::start(kubeconfig, host_models).await;
                let repo = Repo::new(c.host_dir.clone(), true);
                let (namespace, client) = (c.namespace.clone(), c.client());
                (Backend::Cluster(c), namespace, repo, client)
            }
        };
        let api = Api::namespaced(client.clone(), &namespace);
        Harness { ground, name: name.to_string(), namespace, repo, client, api, backend }
    }

    /// berth-local: stops the in-process operator and starts a new one that knows only
    /// what the API server holds. A cluster: deletes the leader's pod and waits for
    /// another replica to take the Lease.
    pub async fn restart_operator(&mut self) {
        match &mut self.backend {
            Backend::Local(l) => l.restart_operator().await,
            Backend::Cluster(c) => c.restart_operator().await,
        }
    }

    /// The (leading) operator's Prometheus metrics.
    pub async fn operator_metrics(&self) -> String {
        match &self.backend {
            Backend::Local(l) => l.metrics.render(),
            Backend::Cluster(c) => c.operator_metrics().await,
        }
    }

    pub async fn shutdown(self) {
        match self.backend {
            Backend::Local(l) => l.shutdown().await,
            Backend::Cluster(c) => c.shutdown().await,
        }
    }

    /// `within` on this ground (longer on a real cluster).
    /// Where a server the test runs on this machine must listen for pods to reach it;
    /// None on a cluster ground (its pods reach no test server).
    pub fn host_address(&self) -> Option<std::net::IpAddr> {
        match &self.backend {
            Backend::Local(l) => Some(l.host_address()),
            Backend::Cluster(_) => None,
        }
    }

    pub fn within(&self, within: Duration) -> Duration {
        self.ground.within(within)
    }

    /// Where the model's versions come from: the repository directory on berth-local,
    /// the PVC over it on a cluster.
    pub fn source_uri(&self) -> String {
        match &self.backend {
            Backend::Local(_) => SourceLocation::File { path: self.repo.path.display().to_string() }.to_string(),
            Backend::Cluster(_) => {
                SourceLocation::Pvc { claim: cluster::CLAIM.to_string(), path: String::new() }.to_string()
            }
        }
    }

    /// The BertModel serving `version` from the repository, with `rollout`.
    pub fn manifest(&self, version: &str, replicas: i32, rollout: Value) -> BertModel {
        serde_json::from_value(json!({
            "apiVersion": "berth.dev/v1alpha1", "kind": "BertModel",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": {
                "version": version,
                "source": {"uri": self.source_uri()},
                "replicas": replicas,
                "resources": {"requests": {"cpu": "100m"}},
                "rollout": rollout,
            }
        }))
        .unwrap()
    }

    pub async fn apply(&self, model: &BertModel) -> BertModel {
        self.api.patch(&self.name, &PatchParams::apply("e2e").force(), &Patch::Apply(model)).await.unwrap()
    }

    pub async fn merge(&self, patch: Value) {
        self.api.patch(&self.name, &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    }

    /// Applies `model` and waits until it is Ready on its version.
    pub async fn create_ready(&self, model: &BertModel) -> BertModelStatus {
        let t0 = Instant::now();
        self.apply(model).await;
        let version = model.spec.version.clone();
        let status = self
            .wait("Ready", Duration::from_secs(120), |s| {
                berth_api::conditions::is_true(&s.conditions, "Ready")
                    && s.stable_version.as_deref() == Some(version.as_str())
                    && s.ready_replicas == model.spec.replicas
            })
            .await;
        eprintln!("create -> Ready: {:.1}s ({} ready pods)", t0.elapsed().as_secs_f64(), status.ready_replicas);
        status
    }

    pub async fn status(&self) -> BertModelStatus {
        self.api.get(&self.name).await.unwrap().status.unwrap()
    }

    pub async fn wait(&self, what: &str, within: Duration, done: impl Fn(&BertModelStatus) -> bool) -> BertModelStatus {
        self.watch(what, within, |_| {}, done).await
    }

    /// Polls the status every 100 ms, showing each to `seen`, until `done`.
    pub async fn watch(
        &self,
        what: &str,
        within: Duration,
        mut seen: impl FnMut(&BertModelStatus),
        done: impl Fn(&BertModelStatus) -> bool,
    ) -> BertModelStatus {
        let within = self.within(within);
        let start = Instant::now();
        let mut last = None;
        loop {
            if let Some(status) = self.api.get(&self.name).await.ok().and_then(|m| m.status) {
                seen(&status);
                if done(&status) {
                    return status;
                }
                last = Some(status);
            }
            assert!(start.elapsed() < within, "timed out waiting for {what}; last status: {last:#?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The model's serving pods that are not being deleted.
    pub async fn pods(&self) -> Vec<Pod> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &self.namespace);
        let list = pods.list(&ListParams::default().labels(&format!("berth.dev/model={}", self.name))).await.unwrap();
        list.items.into_iter().filter(|p| p.metadata.deletion_timestamp.is_none()).collect()
    }
}
