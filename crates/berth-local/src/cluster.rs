//! Starts the whole local cluster in this process: the API server (crate
//! `berth-apiserver`), the controllers, the kubelet and the service proxy.
//! Components get a `kube::Client` for the API server and nothing else.
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use berth_apiserver::{ApiServerConfig, ApiServerHandle};
use kube::Client;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::controllers;
use crate::error::{Error, Result};
use crate::images::ImageMap;
use crate::kubelet::{self, Backoff, KubeletConfig};
use crate::network::{self, ClusterNetwork};
use crate::proxy;

#[derive(Debug, Clone)]
pub struct ClusterConfig {
    pub state_dir: PathBuf,
    /// API server port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    pub images: ImageMap,
    pub backoff: Backoff,
    /// `None`: use mount namespaces when they work here.
    pub mount_namespaces: Option<bool>,
    /// Keep API objects across restarts (a snapshot in the state dir).
    pub persist: bool,
}

/// Settings beyond [`ClusterConfig`] (kept apart so its struct literals stay
/// as they are); `Default` is what [`LocalCluster::start`] uses.
#[derive(Debug, Clone, Default)]
pub struct ClusterOptions {
    /// `None`: give every pod its own network namespace when that works here
    /// (root, iproute2, nsenter), else fall back to loopback addresses with a
    /// warning. `Some(false)` forces the fallback, `Some(true)` fails `start`
    /// when namespaces cannot be made.
    pub network_namespaces: Option<bool>,
}

/// How pods are networked, as chosen at start.
#[derive(Debug, Clone)]
pub enum PodNetworking {
    Namespaces(Arc<ClusterNetwork>),
    /// Pods share the host network; the string says why.
    Loopback(String),
}

impl PodNetworking {
    /// Sets the pod network up as `want` asks (see [`ClusterOptions`]).
    pub async fn start(state_dir: &Path, api: std::net::SocketAddr, want: Option<bool>) -> Result<Self> {
        if want == Some(false) {
            // Forced off: still clean up what an earlier run with them left.
            let _ = network::remove_all(state_dir).await;
            return Ok(PodNetworking::Loopback("network namespaces turned off (--no-network-namespaces)".into()));
        }
        match ClusterNetwork::start(state_dir, api).await {
            Ok(n) => Ok(PodNetworking::Namespaces(Arc::new(n))),
            Err(e) if want.is_none() => {
                let why = format!("{e}; pods share the host network with 127.1.x.y addresses instead");
                tracing::warn!("{why}");
                Ok(PodNetworking::Loopback(why))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub fn network(&self) -> Option<Arc<ClusterNetwork>> {
        match self {
            PodNetworking::Namespaces(n) => Some(n.clone()),
            PodNetworking::Loopback(_) => None,
        }
    }

    /// One line for `berth local up`.
    pub fn summary(&self) -> String {
        match self {
            PodNetworking::Namespaces(n) => n.summary(),
            PodNetworking::Loopback(why) => format!("loopback addresses (127.1.0.0/16): {why}"),
        }
    }

    /// Removes the bridge, namespaces and veths.
    pub async fn shutdown(&self) {
        if let PodNetworking::Namespaces(n) = self
            && let Err(e) = n.shutdown().await
        {
            tracing::warn!(error = %e, "removing the pod network");
        }
    }
}

/// The kubelet's configuration for pods of `api`, reaching it the way pods
/// of `networking` can.
pub fn kubelet_config(
    api: &ApiServerHandle,
    state_dir: PathBuf,
    images: ImageMap,
    backoff: Backoff,
    mount_namespaces: bool,
    networking: &PodNetworking,
) -> KubeletConfig {
    let network = networking.network();
    let (api_url, pod_kubeconfig) = match &network {
        Some(n) => {
            let url = format!("http://{}", n.pod_api());
            (url.clone(), api.kubeconfig_yaml().replace(&api.url(), &url))
        }
        None => (api.url(), api.kubeconfig_yaml()),
    };
    KubeletConfig {
        node_name: "berth-local".into(),
        state_dir,
        images,
        backoff,
        mount_namespaces,
        api_url,
        pod_kubeconfig,
        network,
    }
}

/// The components that run against an API server (everything but it).
pub struct Components {
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    kubelet: JoinHandle<()>,
}

impl Components {
    pub fn start(client: Client, kubelet_cfg: KubeletConfig) -> Self {
        let (tx, rx) = watch::channel(false);
        let tasks = vec![
            tokio::spawn(controllers::deployment::run(client.clone(), rx.clone())),
            tokio::spawn(controllers::replicaset::run(client.clone(), rx.clone())),
            tokio::spawn(controllers::endpoints::run(client.clone(), rx.clone())),
            tokio::spawn(proxy::run(client.clone(), rx.clone())),
        ];
        let kubelet = tokio::spawn(kubelet::run(client, kubelet_cfg, rx));
        Components { shutdown: tx, tasks, kubelet }
    }

    /// Stops controllers, then the kubelet (which stops every pod process).
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            if tokio::time::timeout(Duration::from_secs(5), t).await.is_err() {
                tracing::warn!("a controller did not stop in time");
            }
        }
        let _ = self.kubelet.await;
    }
}

pub struct LocalCluster {
    pub api: ApiServerHandle,
    pub client: Client,
    pub networking: PodNetworking,
    components: Components,
}

impl LocalCluster {
    pub async fn start(cfg: ClusterConfig) -> Result<Self> {
        Self::start_with(cfg, ClusterOptions::default()).await
    }

    pub async fn start_with(cfg: ClusterConfig, opts: ClusterOptions) -> Result<Self> {
        let state_dir = std::path::absolute(&cfg.state_dir).map_err(|e| Error::io("resolving state dir", e))?;
        std::fs::create_dir_all(&state_dir).map_err(|e| Error::io(format!("mkdir {}", state_dir.display()), e))?;
        let api = berth_apiserver::start(ApiServerConfig {
            bind: std::net::SocketAddr::from(([127, 0, 0, 1], cfg.port)),
            state_dir: cfg.persist.then(|| state_dir.join("apiserver")),
        })
        .await
        .map_err(|e| Error::ApiServer(e.to_string()))?;
        let client = Client::try_from(api.kube_config())?;
        let mount_namespaces = cfg.mount_namespaces.unwrap_or_else(kubelet::namespaces_available);
        let networking = match PodNetworking::start(&state_dir, api.addr, opts.network_namespaces).await {
            Ok(n) => n,
            Err(e) => {
                let _ = api.shutdown().await;
                return Err(e);
            }
        };
        let kcfg =
            kubelet_config(&api, state_dir.clone(), cfg.images.clone(), cfg.backoff, mount_namespaces, &networking);
        let components = Components::start(client.clone(), kcfg);
        Ok(LocalCluster { api, client, networking, components })
    }

    /// Stops pods, removes the pod network, stops the API server.
    pub async fn shutdown(self) -> Result<()> {
        self.components.shutdown().await;
        self.networking.shutdown().await;
        self.api.shutdown().await.map_err(|e| Error::ApiServer(e.to_string()))
    }
}
