//! Where the suite runs, from the environment:
//!
//! - `BERTH_E2E_KUBECONFIG` unset: berth-local, started by the harness for each test.
//! - `BERTH_E2E_KUBECONFIG=/path/to/admin/kubeconfig`: a real cluster on which the Helm
//!   chart `charts/berth` is installed (release `berth` in `berth-system`, leader
//!   election on the Lease `berth-operator` there). `BERTH_E2E_HOST_MODELS` must then
//!   name a directory on the (single) node that the harness may write: each test's
//!   model versions live in `$BERTH_E2E_HOST_MODELS/<namespace>`, mounted into the pods
//!   through a hostPath PersistentVolume.

use std::path::PathBuf;
use std::time::Duration;

pub const KUBECONFIG_ENV: &str = "BERTH_E2E_KUBECONFIG";
pub const HOST_MODELS_ENV: &str = "BERTH_E2E_HOST_MODELS";

/// The chart's namespace and leader-election Lease on the cluster ground.
pub const OPERATOR_NAMESPACE: &str = "berth-system";
pub const OPERATOR_LEASE: &str = "berth-operator";

/// Pods on a real cluster start slower (image, volumes, kube-proxy): no wait is
/// shorter than this there.
const CLUSTER_MIN_WAIT: Duration = Duration::from_secs(180);

#[derive(Clone, Debug)]
pub enum Ground {
    Local,
    Cluster { kubeconfig: PathBuf, host_models: PathBuf },
}

impl Ground {
    pub fn from_env() -> Ground {
        match std::env::var_os(KUBECONFIG_ENV).filter(|v| !v.is_empty()) {
            None => Ground::Local,
            Some(kubeconfig) => {
                let host_models = std::env::var_os(HOST_MODELS_ENV)
                    .filter(|v| !v.is_empty())
                    .unwrap_or_else(|| panic!("{KUBECONFIG_ENV} is set: {HOST_MODELS_ENV} must name the host directory the model PersistentVolumes use"));
                // The PersistentVolumes' hostPath must be absolute.
                let host_models = std::path::absolute(PathBuf::from(host_models)).unwrap();
                Ground::Cluster { kubeconfig: kubeconfig.into(), host_models }
            }
        }
    }

    /// `local` or `cluster`, as the `e2e-timing:` lines name it.
    pub fn name(&self) -> &'static str {
        match self {
            Ground::Local => "local",
            Ground::Cluster { .. } => "cluster",
        }
    }

    pub fn is_cluster(&self) -> bool {
        matches!(self, Ground::Cluster { .. })
    }

    /// A wait's limit on this ground.
    pub fn within(&self, within: Duration) -> Duration {
        if self.is_cluster() { within.max(CLUSTER_MIN_WAIT) } else { within }
    }

    /// For tests that only berth-local can run: says why on the cluster ground and
    /// fails there (`make e2e-suite-cluster` does not run them at all).
    pub fn require_local(&self, test: &str, why: &str) {
        if self.is_cluster() {
            println!("e2e: {test} does not run on the cluster ground: {why}");
            panic!("{test} does not run on the cluster ground: {why}");
        }
    }
}

/// One line per timing, to compare the grounds: `e2e-timing: <ground> <what> <seconds>`.
pub fn timing(ground: &Ground, what: &str, seconds: f64) {
    println!("e2e-timing: {} {what} {seconds:.2}", ground.name());
}
