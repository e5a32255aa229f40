//! Per-pod network namespaces. Each cluster owns a bridge (`berth-<tag>`, the
//! tag derived from its state dir) with the address 10.87.N.1/24, N picked
//! and claimed per cluster (see `subnet`). Each pod gets a namespace with a
//! veth pair (host end on the bridge, `eth0` inside), an address 10.87.N.x,
//! `lo`, and an `unreachable` default route: pods reach the host (10.87.N.1)
//! and each other on the subnet, nothing else. The host reaches pods through
//! the bridge's subnet route; nothing is NATed and the bridge does not
//! forward (its `forwarding` sysctl is 0).
//! Pods reach the API server at the bridge address through a forwarder.
mod cleanup;
mod cmd;
mod error;
mod forward;
mod names;
mod pod;
mod subnet;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

pub use cleanup::{leftovers, remove_all};
pub use error::NetworkError;
pub use names::Names;
pub use pod::PodNetns;
pub use subnet::{RANGE, Subnet, release as release_subnet};
use tokio::task::JoinHandle;

use crate::ipalloc::IpPool;

/// The pod network of one cluster, made by [`ClusterNetwork::start`] and
/// removed by [`ClusterNetwork::shutdown`] (or `remove_all` after a crash).
#[derive(Debug)]
pub struct ClusterNetwork {
    state_dir: PathBuf,
    names: Names,
    subnet: Subnet,
    pool: IpPool,
    pod_api: SocketAddr,
    forward: JoinHandle<()>,
    /// Set once `shutdown` removed everything; `Drop` cleans up otherwise.
    removed: AtomicBool,
}

/// Whether namespaces can be made here: root, iproute2 and util-linux
/// `nsenter`. The error says what is missing.
pub async fn check_available() -> Result<(), NetworkError> {
    if !effective_uid_is_root() {
        return Err(NetworkError::Unavailable("not running as root".into()));
    }
    if !cleanup::ip_available().await {
        return Err(NetworkError::Unavailable("`ip` (iproute2) is not installed".into()));
    }
    if cmd::run("nsenter", &["--version"]).await.is_err() {
        return Err(NetworkError::Unavailable("`nsenter` (util-linux) is not installed".into()));
    }
    Ok(())
}

/// From /proc/self/status (`Uid: real effective saved fs`).
fn effective_uid_is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|v| v.split_whitespace().nth(1)) == Some("0")
}

impl ClusterNetwork {
    /// Removes a crashed run's leftovers of this state dir, then makes the
    /// bridge and the API forwarder (pods reach `api` at the bridge address).
    pub async fn start(state_dir: &Path, api: SocketAddr) -> Result<Self, NetworkError> {
        check_available().await?;
        let state_dir = std::path::absolute(state_dir).unwrap_or_else(|_| state_dir.to_path_buf());
        let names = Names::for_state_dir(&state_dir);
        let removed = remove_all(&state_dir).await?;
        if !removed.is_empty() {
            tracing::info!(?removed, "removed a previous run's pod network");
        }
        let subnet = subnet::claim(names.preferred_index(), &state_dir).await?;
        match Self::make(&state_dir, &names, subnet, api).await {
            Ok(net) => Ok(net),
            Err(e) => {
                let _ = remove_all(&state_dir).await;
                Err(match e {
                    NetworkError::Command { command, message } if message.contains("Operation not supported") => {
                        NetworkError::Unavailable(format!("`{command}`: {message}"))
                    }
                    e => e,
                })
            }
        }
    }

    async fn make(state_dir: &Path, names: &Names, subnet: Subnet, api: SocketAddr) -> Result<Self, NetworkError> {
        let br = names.bridge();
        let gw = format!("{}/24", subnet.gateway());
        // No STP and no forward delay: a new pod's port forwards at once
        // (with the default 15 s delay a pod is unreachable that long).
        cmd::ip(&["link", "add", &br, "type", "bridge", "stp_state", "0", "forward_delay", "0"]).await?;
        // Packets from pods are never routed on, even if the host forwards.
        cmd::sysctl(&format!("net/ipv4/conf/{br}/forwarding"), "0")?;
        let _ = cmd::sysctl(&format!("net/ipv6/conf/{br}/disable_ipv6"), "1");
        cmd::ip(&["addr", "add", &gw, "dev", &br]).await?;
        cmd::ip(&["link", "set", &br, "up"]).await?;
        let (pod_api, forward) = forward::start(subnet.gateway(), api).await?;
        let pool = IpPool::new(format!("pods {}", subnet.cidr()), subnet.network(), 2, 254);
        tracing::info!(bridge = %br, subnet = %subnet.cidr(), api = %pod_api, "pod network namespaces on");
        Ok(ClusterNetwork {
            state_dir: state_dir.to_path_buf(),
            names: names.clone(),
            subnet,
            pool,
            pod_api,
            forward,
            removed: AtomicBool::new(false),
        })
    }

    pub fn pool(&self) -> &IpPool {
        &self.pool
    }

    pub fn bridge(&self) -> String {
        self.names.bridge()
    }

    pub fn subnet(&self) -> Subnet {
        self.subnet
    }

    /// Where pods reach the API server (the bridge address).
    pub fn pod_api(&self) -> SocketAddr {
        self.pod_api
    }

    /// One line for `berth local up` and the log.
    pub fn summary(&self) -> String {
        format!(
            "network namespaces: pods in {} on bridge {} (API server for pods at {})",
            self.subnet.cidr(),
            self.bridge(),
            self.pod_api
        )
    }

    pub async fn add_pod(&self, ip: Ipv4Addr) -> Result<PodNetns, NetworkError> {
        pod::create(&self.names, self.subnet, &self.bridge(), ip).await
    }

    pub async fn remove_pod(&self, p: &PodNetns) {
        pod::remove(p).await;
    }

    /// Stops the forwarder and removes every namespace, veth and the bridge.
    pub async fn shutdown(&self) -> Result<Vec<String>, NetworkError> {
        self.forward.abort();
        let removed = remove_all(&self.state_dir).await;
        if removed.is_ok() {
            self.removed.store(true, Ordering::SeqCst);
        }
        removed
    }
}

impl Drop for ClusterNetwork {
    /// A cluster dropped without `shutdown` (a test that panicked, whose
    /// state dir is about to go) must not leave its bridge behind.
    fn drop(&mut self) {
        self.forward.abort();
        if !self.removed.load(Ordering::SeqCst) {
            cleanup::remove_all_blocking(&self.state_dir);
        }
    }
}
