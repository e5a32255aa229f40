//! The kubelet of the single node `berth-local`: binds unscheduled pods to
//! itself and runs every pod bound to it as local processes.
mod backoff;
mod container;
mod ctx;
mod env;
mod expand;
mod fieldref;
mod memory;
mod mounts;
mod pod;
mod probe;
mod process;
mod quantity;
mod resource_ref;
mod state;
mod status;
mod volumes;

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use backoff::Backoff;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use kube::{Api, Client};
pub use mounts::namespaces_available;
use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::images::ImageMap;
use crate::ipalloc::IpPool;
use crate::network::ClusterNetwork;

/// Annotation prefix naming each container's log file (`<prefix><container>`).
pub const LOG_PATH_ANNOTATION_PREFIX: &str = "berth.dev/log-path.";
/// Annotation prefix naming the previous run's log (`kubectl logs --previous`).
pub const PREVIOUS_LOG_PATH_ANNOTATION_PREFIX: &str = "berth.dev/log-path-previous.";

/// Set in every container's environment to the cluster's state dir.
pub const STATE_DIR_ENV: &str = "BERTH_LOCAL_STATE_DIR";

#[derive(Debug, Clone)]
pub struct KubeletConfig {
    pub node_name: String,
    pub state_dir: PathBuf,
    pub images: ImageMap,
    pub backoff: Backoff,
    /// Run containers in private mount namespaces (needs root and unshare).
    pub mount_namespaces: bool,
    /// The API server URL as pods reach it (`http://127.0.0.1:PORT`, or the
    /// bridge address with network namespaces).
    pub api_url: String,
    /// Kubeconfig given to every pod through `KUBECONFIG`.
    pub pod_kubeconfig: String,
    /// Per-pod network namespaces on this bridge; `None`: pods share the
    /// host network with loopback addresses from 127.1.0.0/16.
    pub network: Option<Arc<ClusterNetwork>>,
}

/// State shared by the kubelet and its pod workers.
pub struct KubeletShared {
    pub client: Client,
    pub node_name: String,
    pub state_dir: PathBuf,
    pub images: ImageMap,
    pub backoff: Backoff,
    pub mount_namespaces: bool,
    pub api_url: String,
    pub pod_kubeconfig: String,
    pub pods_ips: IpPool,
    pub network: Option<Arc<ClusterNetwork>>,
    pub http: reqwest::Client,
    /// Mount points created on the host for pods. They are removed only when
    /// the kubelet stops: removing a directory that is a mount point in
    /// another pod's mount namespace would unmount it there.
    pub created_mount_points: Arc<std::sync::Mutex<Vec<PathBuf>>>,
}

impl KubeletShared {
    /// Where pod addresses come from: the bridge's subnet, or loopback.
    pub fn pod_ips(&self) -> &IpPool {
        self.network.as_ref().map(|n| n.pool()).unwrap_or(&self.pods_ips)
    }
}

struct Worker {
    updates: watch::Sender<Option<Pod>>,
    task: JoinHandle<()>,
}

/// Runs until `shutdown` turns true, then stops every container and returns
/// once all pod workers have finished.
pub async fn run(client: Client, cfg: KubeletConfig, mut shutdown: watch::Receiver<bool>) {
    let http = reqwest::Client::builder().no_proxy().danger_accept_invalid_certs(true).build().unwrap_or_default();
    let k = Arc::new(KubeletShared {
        client: client.clone(),
        node_name: cfg.node_name.clone(),
        state_dir: cfg.state_dir.clone(),
        images: cfg.images.clone(),
        backoff: cfg.backoff,
        mount_namespaces: cfg.mount_namespaces,
        api_url: cfg.api_url.clone(),
        pod_kubeconfig: cfg.pod_kubeconfig.clone(),
        pods_ips: IpPool::pods(),
        network: cfg.network.clone(),
        http,
        created_mount_points: Arc::default(),
    });
    register_node(&client, &cfg.node_name).await;
    let api: Api<Pod> = Api::all(client.clone());
    let mut stream = watcher(api, watcher::Config::default()).boxed();
    let mut workers: HashMap<String, Worker> = HashMap::new();
    let mut init_seen: Option<BTreeSet<String>> = None;
    loop {
        tokio::select! {
            ev = stream.next() => {
                let Some(ev) = ev else { break };
                match ev {
                    Ok(watcher::Event::Init) => init_seen = Some(BTreeSet::new()),
                    Ok(watcher::Event::InitApply(p)) => {
                        if let (Some(seen), Some(uid)) = (init_seen.as_mut(), p.metadata.uid.clone()) {
                            seen.insert(uid);
                        }
                        on_pod(&k, &mut workers, p, &shutdown).await;
                    }
                    Ok(watcher::Event::InitDone) => {
                        // Pods that vanished while the watch was down.
                        if let Some(seen) = init_seen.take() {
                            for (uid, w) in workers.iter() {
                                if !seen.contains(uid) {
                                    let _ = w.updates.send(None);
                                }
                            }
                        }
                    }
                    Ok(watcher::Event::Apply(p)) => on_pod(&k, &mut workers, p, &shutdown).await,
                    Ok(watcher::Event::Delete(p)) => {
                        if let Some(w) = p.metadata.uid.as_ref().and_then(|u| workers.get(u)) {
                            let _ = w.updates.send(None);
                        }
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "pod watch");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
                workers.retain(|_, w| !w.task.is_finished());
            }
            _ = shutdown.changed() => {
                if *shutdown.borrow() { break }
            }
        }
    }
    // Pod workers see the shutdown flag themselves; wait for them to stop
    // their processes.
    for (_, w) in workers.drain() {
        let _ = w.task.await;
    }
    let created = k.created_mount_points.lock().map(|g| g.clone()).unwrap_or_default();
    mounts::remove_mount_points(&created);
}

async fn on_pod(
    k: &Arc<KubeletShared>,
    workers: &mut HashMap<String, Worker>,
    pod: Pod,
    shutdown: &watch::Receiver<bool>,
) {
    let Some(uid) = pod.metadata.uid.clone() else { return };
    let name = pod.metadata.name.clone().unwrap_or_default();
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let node = pod.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_default();
    if node.is_empty() {
        if pod.metadata.deletion_timestamp.is_none() {
            schedule(k, &ns, &name).await;
        }
        return;
    }
    if node != k.node_name {
        return;
    }
    if let Some(w) = workers.get(&uid) {
        let _ = w.updates.send(Some(pod));
        return;
    }
    let api: Api<Pod> = Api::namespaced(k.client.clone(), &ns);
    if pod.metadata.deletion_timestamp.is_some() {
        // Nothing runs for it here: finish the deletion.
        let dp = kube::api::DeleteParams { grace_period_seconds: Some(0), ..Default::default() };
        let _ = api.delete(&name, &dp).await;
        return;
    }
    let phase = pod.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_default();
    if phase == "Succeeded" || phase == "Failed" {
        return;
    }
    let (tx, rx) = watch::channel(Some(pod.clone()));
    let task = tokio::spawn(pod::run(k.clone(), pod, rx, shutdown.clone()));
    workers.insert(uid, Worker { updates: tx, task });
}

/// The scheduler's whole job on one node: bind the pod to it.
async fn schedule(k: &KubeletShared, ns: &str, name: &str) {
    let api: Api<Pod> = Api::namespaced(k.client.clone(), ns);
    let patch = json!({"spec": {"nodeName": k.node_name}});
    if let Err(e) = api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await {
        tracing::warn!(pod = %name, namespace = %ns, error = %e, "binding pod to node");
    }
}

/// Creates the Node object so `kubectl get nodes` shows the node; an API
/// server without Nodes is fine too.
async fn register_node(client: &Client, name: &str) {
    let api: Api<Node> = Api::all(client.clone());
    let node: Result<Node, _> = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}},
        "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
                   "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}]}
    }));
    if let Ok(node) = node {
        match api.create(&PostParams::default(), &node).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => tracing::debug!(error = %e, "registering node"),
        }
    }
}
