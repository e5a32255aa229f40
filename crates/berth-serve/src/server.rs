//! Starting and stopping the whole server: the model manager and its source
//! of desired versions, the REST and gRPC listeners, and the drain on
//! shutdown (readiness false -> grace -> stop accepting -> finish in-flight
//! -> unload).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::api::grpc::GrpcService;
use crate::api::tfs::grpc::TfsService;
use crate::api::{AppState, rest};
use crate::config::ServingConfig;
use crate::manager::controlled::{self, ControlledSource};
use crate::manager::{ModelManager, VersionLabels, VersionPolicy, poller};
use crate::metrics::{Metrics, MetricsError};
use crate::remote::RemoteStore;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("binding {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl ServerError {
    pub fn category(&self) -> &'static str {
        match self {
            ServerError::Bind { .. } => "bind",
            ServerError::Metrics(_) => "metrics",
            ServerError::Config(_) => "config",
        }
    }
}

/// Where the desired set of versions comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// Standalone: poll `{base}/{version}/` and serve what the policy picks; with
    /// `remote`, list the object store and mirror the picked versions into `base`.
    Poll { base: PathBuf, policy: VersionPolicy, interval: Duration, remote: Option<Arc<RemoteStore>> },
    /// Controlled by the operator: converge on the BertModel's `status.traffic`.
    Controlled(ControlledSource),
}

#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub model_name: String,
    pub source: Source,
    pub rest_addr: SocketAddr,
    pub grpc_addr: SocketAddr,
    pub serving: ServingConfig,
    pub max_body_bytes: usize,
    /// After SIGTERM, how long readiness is false before listeners close
    /// (lets load balancers notice).
    pub drain_grace: Duration,
    /// Standalone version labels (`--version_labels`); controlled mode
    /// replaces them with the BertModel's stable and canary versions.
    pub version_labels: VersionLabels,
}

pub struct RunningServer {
    pub rest_addr: SocketAddr,
    pub grpc_addr: SocketAddr,
    pub state: Arc<AppState>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    drain_grace: Duration,
}

impl std::fmt::Debug for RunningServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningServer")
            .field("rest_addr", &self.rest_addr)
            .field("grpc_addr", &self.grpc_addr)
            .finish_non_exhaustive()
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, ServerError> {
    TcpListener::bind(addr).await.map_err(|source| ServerError::Bind { addr, source })
}

/// Binds both ports, starts the version source and the servers, returns at once.
pub async fn start(opts: ServerOptions) -> Result<RunningServer, ServerError> {
    if opts.model_name.is_empty() {
        return Err(ServerError::Config("the model name is empty".into()));
    }
    let metrics = Metrics::new()?;
    let manager = ModelManager::new(opts.model_name.clone(), Arc::new(opts.serving.clone()), metrics.clone());
    manager.set_labels(opts.version_labels.clone());
    let models = BTreeMap::from([(opts.model_name.clone(), Arc::clone(&manager))]);
    let state = AppState::new(models, metrics, opts.max_body_bytes);

    let rest_listener = bind(opts.rest_addr).await?;
    let grpc_listener = bind(opts.grpc_addr).await?;
    let rest_addr = rest_listener.local_addr().map_err(|source| ServerError::Bind { addr: opts.rest_addr, source })?;
    let grpc_addr = grpc_listener.local_addr().map_err(|source| ServerError::Bind { addr: opts.grpc_addr, source })?;

    let (shutdown, rx) = watch::channel(false);
    let mut tasks = Vec::new();

    match opts.source.clone() {
        Source::Poll { base, policy, interval, remote } => {
            let rx = rx.clone();
            let m = Arc::clone(&manager);
            tasks.push(tokio::spawn(poller::run(m, base, policy, interval, remote, rx)));
        }
        Source::Controlled(source) => {
            let rx = rx.clone();
            let m = Arc::clone(&manager);
            tasks.push(tokio::spawn(controlled::run(m, source, rx)));
        }
    }

    let app = rest::router(Arc::clone(&state));
    let mut rest_rx = rx.clone();
    tasks.push(tokio::spawn(async move {
        let stop = async move {
            let _ = rest_rx.wait_for(|s| *s).await;
        };
        if let Err(e) = axum::serve(rest_listener, app).with_graceful_shutdown(stop).await {
            tracing::error!(error = %e, "REST server failed");
        }
    }));

    let grpc = GrpcService::new(Arc::clone(&state)).into_server();
    let (tfs_prediction, tfs_model) = TfsService::new(Arc::clone(&state)).into_servers();
    let mut grpc_rx = rx.clone();
    tasks.push(tokio::spawn(async move {
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(grpc_listener);
        let stop = async move {
            let _ = grpc_rx.wait_for(|s| *s).await;
        };
        if let Err(e) = tonic::transport::Server::builder()
            .layer(crate::api::grpc_limit::layer())
            .add_service(grpc)
            .add_service(tfs_prediction)
            .add_service(tfs_model)
            .serve_with_incoming_shutdown(incoming, stop)
            .await
        {
            tracing::error!(error = %e, "gRPC server failed");
        }
    }));

    tracing::info!(%rest_addr, %grpc_addr, model = %opts.model_name, "berth-serve listening");
    Ok(RunningServer { rest_addr, grpc_addr, state, shutdown, tasks, drain_grace: opts.drain_grace })
}

impl RunningServer {
    /// Waits until the server is ready or `timeout` passes; true when ready.
    pub async fn wait_ready(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.state.is_ready() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.state.is_ready()
    }

    /// The drain: readiness false, grace period, listeners stop accepting
    /// and finish in-flight requests, then every version is unloaded.
    pub async fn shutdown(self) {
        self.state.draining.store(true, Ordering::Release);
        tracing::info!(grace = ?self.drain_grace, "draining: readiness is false");
        if !self.drain_grace.is_zero() {
            tokio::time::sleep(self.drain_grace).await;
        }
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        for manager in self.state.models.values() {
            manager.unload_all().await;
        }
        tracing::info!("drained; exiting");
    }
}
