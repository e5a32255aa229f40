//! Everything a pod's container tasks need, fixed when the pod starts.
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::Pod;
use kube::Client;

use super::backoff::Backoff;
use super::state::Shared;
use crate::images::ImageMap;
use crate::network::PodNetns;

pub struct PodCtx {
    pub client: Client,
    pub pod: Pod,
    pub pod_dir: PathBuf,
    pub pod_ip: String,
    /// The pod's network namespace; `None`: the host's network.
    pub netns: Option<PodNetns>,
    pub node_name: String,
    pub shared: Shared,
    pub images: ImageMap,
    pub volume_dirs: BTreeMap<String, PathBuf>,
    pub mount_namespaces: bool,
    pub backoff: Backoff,
    /// Variables berth-local adds for every container (KUBECONFIG, ...).
    pub base_env: BTreeMap<String, String>,
    pub http: reqwest::Client,
    /// Mount points created on the host (shared by the whole kubelet).
    pub created_mount_points: Arc<Mutex<Vec<PathBuf>>>,
}

impl PodCtx {
    pub fn name(&self) -> String {
        self.pod.metadata.name.clone().unwrap_or_default()
    }

    pub fn namespace(&self) -> String {
        self.pod.metadata.namespace.clone().unwrap_or_default()
    }

    /// One log file per run of a container, so `kubectl logs --previous`
    /// shows the run before the current one.
    pub fn log_path(&self, container: &str, run: i32) -> PathBuf {
        log_path(&self.pod_dir, container, run)
    }

    /// `program args` as run in the pod's network namespace.
    pub fn in_pod_network(&self, program: &str, args: &[String]) -> (String, Vec<String>) {
        match &self.netns {
            Some(n) => n.wrap(program, args),
            None => (program.to_string(), args.to_vec()),
        }
    }

    pub fn service_account_dir(&self) -> PathBuf {
        self.pod_dir.join("serviceaccount")
    }

    pub fn restart_policy(&self) -> String {
        self.pod.spec.as_ref().and_then(|s| s.restart_policy.clone()).unwrap_or_else(|| "Always".into())
    }

    /// terminationGracePeriodSeconds, default 30 as in Kubernetes.
    pub fn grace_seconds(&self) -> i64 {
        self.pod.spec.as_ref().and_then(|s| s.termination_grace_period_seconds).unwrap_or(30).max(0)
    }
}

pub fn log_path(pod_dir: &std::path::Path, container: &str, run: i32) -> PathBuf {
    pod_dir.join("logs").join(container).join(format!("{run}.log"))
}
