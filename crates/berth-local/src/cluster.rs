//! Starts the whole local cluster in this process: the API server (crate
//! `berth-apiserver`), the controllers, the kubelet and the service proxy.
//! Components get a `kube::Client` for the API server and nothing else.
use std::path::PathBuf;
use std::time::Duration;

use berth_apiserver::{ApiServerConfig, ApiServerHandle};
use kube::Client;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::controllers;
use crate::error::{Error, Result};
use crate::images::ImageMap;
use crate::kubelet::{self, Backoff, KubeletConfig};
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
    components: Components,
}

impl LocalCluster {
    pub async fn start(cfg: ClusterConfig) -> Result<Self> {
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
        let kcfg = KubeletConfig {
            node_name: "berth-local".into(),
            state_dir: state_dir.clone(),
            images: cfg.images.clone(),
            backoff: cfg.backoff,
            mount_namespaces,
            api_url: api.url(),
            pod_kubeconfig: api.kubeconfig_yaml(),
        };
        let components = Components::start(client.clone(), kcfg);
        Ok(LocalCluster { api, client, components })
    }

    pub async fn shutdown(self) -> Result<()> {
        self.components.shutdown().await;
        self.api.shutdown().await.map_err(|e| Error::ApiServer(e.to_string()))
    }
}
