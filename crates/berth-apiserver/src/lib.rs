//! berth-apiserver: a small, in-memory Kubernetes API server.
//!
//! It speaks the real Kubernetes HTTP/JSON protocol on plain HTTP so that the
//! `kube` client, kube-runtime controllers, `kubectl` 1.35 and `helm` 4 talk
//! to it unchanged. It is what `berth local` embeds. It stores objects in
//! memory (one global, increasing resourceVersion; optional snapshot in
//! `state_dir`), serves discovery (legacy and aggregated v2), CRUD, patch
//! (JSON, merge, strategic merge, server-side apply with managedFields),
//! watch with resume/bookmarks/410, CRDs with schema validation, pruning,
//! defaults and CEL rules, finalizers and ownerReference garbage collection.
//!
//! Contracts with the rest of berth-local:
//! - Pod logs (`pods/log`) are read from the file named by the pod
//!   annotation `berth.dev/log-path.<container>` (or `berth.dev/log-path`),
//!   and `berth.dev/log-path-previous.<container>` for `--previous`.
//! - Deleting a pod that has `spec.nodeName` and is not Succeeded/Failed sets
//!   `deletionTimestamp` (+ grace period) and keeps it: the kubelet stops the
//!   containers and then deletes with `gracePeriodSeconds=0`, as in Kubernetes.
//!   Unscheduled pods go at once.
//! - Services get `spec.clusterIP` from 127.96.0.0/16 (loopback, so a local
//!   proxy can listen on it), not 10.96.0.0/12.
//! - Every namespace has a `default` ServiceAccount; `serviceaccounts/token`
//!   returns an opaque token (authentication is not enforced).
//!
//! Not implemented (answered with clear errors, never silently): authentication
//! and RBAC enforcement (RBAC objects are stored, never enforced), admission
//! webhooks, conversion between CRD versions (all versions share one stored
//! shape), CEL transition rules (`oldSelf`), protobuf bodies other than
//! Namespace/ConfigMap/Secret/ServiceAccount/DeleteOptions, exec/attach/
//! port-forward, TLS. List pagination reads the current state after the
//! continue key (no snapshot at the first page's resourceVersion).
// Request errors carry the whole Status detail; they are the cold path, so
// their size does not matter.
#![allow(clippy::result_large_err)]

mod collection;
mod crd;
mod discovery;
mod error;
mod gc;
mod jsonpath;
mod kinds;
mod meta;
mod openapi;
mod ops;
mod patch;
mod proto;
mod resources;
mod routes;
mod selectors;
mod state;
mod store;
mod subresources;
mod table;
mod watch;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

pub use error::{ApiError, ApiServerError};

/// How to start the server.
#[derive(Debug, Clone)]
pub struct ApiServerConfig {
    /// Address to listen on; `127.0.0.1:0` picks a free port.
    pub bind: SocketAddr,
    /// Optional folder for persistence. The store is in memory; when set, a
    /// snapshot is loaded at start and written at shutdown.
    pub state_dir: Option<PathBuf>,
}

impl Default for ApiServerConfig {
    fn default() -> Self {
        Self { bind: SocketAddr::from(([127, 0, 0, 1], 0)), state_dir: None }
    }
}

/// A running server. Dropping it does not stop it; call [`ApiServerHandle::shutdown`].
pub struct ApiServerHandle {
    pub addr: SocketAddr,
    shutdown_tx: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    gc_task: tokio::task::JoinHandle<()>,
    state: Arc<state::Shared>,
    state_dir: Option<PathBuf>,
}

impl std::fmt::Debug for ApiServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiServerHandle").field("addr", &self.addr).finish()
    }
}

/// Start the API server and return once it is listening.
pub async fn start(config: ApiServerConfig) -> Result<ApiServerHandle, ApiServerError> {
    start_with_event_log(config, store::EVENT_LOG_CAPACITY).await
}

/// Like [`start`], keeping only the last `capacity` events for watch resume
/// (tests use a small log to reach 410 Gone quickly).
pub async fn start_with_event_log(config: ApiServerConfig, capacity: usize) -> Result<ApiServerHandle, ApiServerError> {
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .map_err(|source| ApiServerError::Bind { addr: config.bind, source })?;
    let addr = listener.local_addr().map_err(|source| ApiServerError::Bind { addr: config.bind, source })?;
    let shared = Arc::new(state::Shared::new(capacity));
    if let Some(dir) = &config.state_dir {
        shared.load_snapshot(dir)?;
    }
    let (shutdown_tx, mut shutdown_rx) = tokio::sync::watch::channel(false);
    let app = routes::router(shared.clone());
    let mut rx2 = shutdown_rx.clone();
    let task = tokio::spawn(async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
            let _ = shutdown_rx.wait_for(|v| *v).await;
        });
        if let Err(err) = serve.await {
            tracing::error!(%err, "api server stopped with an error");
        }
    });
    if let Some(dir) = config.state_dir.clone() {
        // Snapshot every couple of seconds when something changed, so a crash
        // loses little; shutdown writes the final one.
        let snap_shared = shared.clone();
        let mut rx3 = rx2.clone();
        tokio::spawn(async move {
            let mut saved = 0u64;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(std::time::Duration::from_secs(2)) => {}
                    _ = rx3.changed() => return,
                }
                let rv = snap_shared.lock().store.current_rv();
                if rv != saved {
                    match snap_shared.save_snapshot(&dir) {
                        Ok(()) => saved = rv,
                        Err(err) => tracing::warn!(%err, category = err.category(), "state snapshot failed"),
                    }
                }
            }
        });
    }
    let gc_shared = shared.clone();
    let gc_task = tokio::spawn(async move {
        tokio::select! {
            _ = gc::run(gc_shared) => {}
            _ = rx2.wait_for(|v| *v) => {}
        }
    });
    tracing::info!(%addr, "berth api server listening");
    Ok(ApiServerHandle { addr, shutdown_tx, task, gc_task, state: shared, state_dir: config.state_dir })
}

impl ApiServerHandle {
    /// Base URL, e.g. `http://127.0.0.1:43123`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kube client configuration that reaches this server.
    pub fn kube_config(&self) -> kube::Config {
        // The URL is always well formed (an IP and a port), so parsing cannot fail;
        // fall back to the default URI rather than panicking all the same.
        let uri: http::Uri = self.url().parse().unwrap_or_default();
        let mut cfg = kube::Config::new(uri);
        cfg.default_namespace = "default".to_string();
        cfg
    }

    /// A kubeconfig file (YAML) for kubectl and helm.
    pub fn kubeconfig_yaml(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: berth-local\n  cluster:\n    server: {url}\ncontexts:\n- name: berth-local\n  context:\n    cluster: berth-local\n    user: berth-local\n    namespace: default\ncurrent-context: berth-local\nusers:\n- name: berth-local\n  user:\n    token: berth-local\npreferences: {{}}\n",
            url = self.url()
        )
    }

    /// Compact the event log, as etcd's compaction does: a watch from any
    /// resourceVersion before now gets 410 Gone (tests of relist paths).
    pub fn compact(&self) {
        self.state.lock().store.compact();
    }

    /// Stop serving (open watches end), stop GC, and write a snapshot when a
    /// state_dir was configured.
    pub async fn shutdown(self) -> Result<(), ApiServerError> {
        let _ = self.shutdown_tx.send(true);
        self.state.close_watches();
        let _ = self.task.await;
        let _ = self.gc_task.await;
        if let Some(dir) = &self.state_dir {
            self.state.save_snapshot(dir)?;
        }
        Ok(())
    }
}
