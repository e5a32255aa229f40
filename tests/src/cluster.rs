//! The real-cluster ground: the chart is installed already; each test gets its own
//! namespace `e2e-<random>` and a hostPath PersistentVolume `e2e-<namespace>` over
//! `$BERTH_E2E_HOST_MODELS/<namespace>`, claimed by the PVC `models` (so the models'
//! `spec.source.uri` is `pvc://models`). "Restarting the operator" deletes the pod that
//! holds the leader Lease and waits for another holder.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, PersistentVolume, PersistentVolumeClaim, Pod};
use kube::api::{DeleteParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Config};
use serde_json::json;

use crate::ground::{OPERATOR_LEASE, OPERATOR_NAMESPACE};

/// The claim every test namespace holds its model versions in.
pub const CLAIM: &str = "models";

pub struct ClusterGround {
    client: kube::Client,
    pub namespace: String,
    pub host_dir: PathBuf,
    pv: String,
}

impl ClusterGround {
    pub async fn start(kubeconfig: &Path, host_models: &Path) -> ClusterGround {
        let config = Kubeconfig::read_from(kubeconfig).unwrap();
        let config = Config::from_custom_kubeconfig(config, &KubeConfigOptions::default()).await.unwrap();
        let client = kube::Client::try_from(config).unwrap();
        let namespace = format!("e2e-{}", random_suffix());
        let host_dir = host_models.join(&namespace);
        let pv = format!("e2e-{namespace}");
        let ground = ClusterGround { client, namespace, host_dir, pv };
        ground.create_objects().await;
        eprintln!("e2e: cluster ground, namespace {}, models in {}", ground.namespace, ground.host_dir.display());
        ground
    }

    async fn create_objects(&self) {
        let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": self.namespace}})).unwrap();
        Api::<Namespace>::all(self.client.clone()).create(&PostParams::default(), &ns).await.unwrap();
        let pv: PersistentVolume = serde_json::from_value(json!({
            "metadata": {"name": self.pv, "labels": {"berth.dev/e2e": "true"}},
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadOnlyMany"],
                "persistentVolumeReclaimPolicy": "Retain",
                "storageClassName": "",
                "hostPath": {"path": self.host_dir.display().to_string(), "type": "DirectoryOrCreate"},
                "claimRef": {"namespace": self.namespace, "name": CLAIM},
            }
        }))
        .unwrap();
        Api::<PersistentVolume>::all(self.client.clone()).create(&PostParams::default(), &pv).await.unwrap();
        let pvc: PersistentVolumeClaim = serde_json::from_value(json!({
            "metadata": {"name": CLAIM, "namespace": self.namespace},
            "spec": {
                "accessModes": ["ReadOnlyMany"],
                "storageClassName": "",
                "volumeName": self.pv,
                "resources": {"requests": {"storage": "1Gi"}},
            }
        }))
        .unwrap();
        Api::<PersistentVolumeClaim>::namespaced(self.client.clone(), &self.namespace)
            .create(&PostParams::default(), &pvc)
            .await
            .unwrap();
    }

    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    fn leases(&self) -> Api<Lease> {
        Api::namespaced(self.client.clone(), OPERATOR_NAMESPACE)
    }

    async fn holder(&self) -> Option<String> {
        let lease = self.leases().get_opt(OPERATOR_LEASE).await.ok().flatten()?;
        lease.spec?.holder_identity.filter(|h| !h.is_empty())
    }

    /// The leader: the operator pod named by the Lease's holderIdentity (the chart
    /// sets POD_NAME, the operator's identity, from metadata.name).
    pub async fn leader(&self) -> Pod {
        let holder = self.holder().await.expect("nobody holds the operator's Lease");
        Api::<Pod>::namespaced(self.client.clone(), OPERATOR_NAMESPACE).get(&holder).await.unwrap()
    }

    /// Deletes the leader's pod (as a node drain or rolling update would) and waits
    /// until another replica holds the Lease.
    pub async fn restart_operator(&self) {
        let t = Instant::now();
        let old = self.holder().await.expect("nobody holds the operator's Lease");
        Api::<Pod>::namespaced(self.client.clone(), OPERATOR_NAMESPACE)
            .delete(&old, &DeleteParams::default())
            .await
            .unwrap();
        loop {
            if let Some(new) = self.holder().await
                && new != old
            {
                eprintln!("operator leader {old} deleted; {new} leads after {:.1}s", t.elapsed().as_secs_f64());
                return;
            }
            assert!(t.elapsed() < Duration::from_secs(120), "no new operator leader 120s after deleting {old}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The leader's Prometheus metrics (its pod's `metrics` port).
    pub async fn operator_metrics(&self) -> String {
        let pod = self.leader().await;
        let ip = pod.status.as_ref().and_then(|s| s.pod_ip.clone()).unwrap();
        let port = pod
            .spec
            .iter()
            .flat_map(|s| &s.containers)
            .flat_map(|c| c.ports.iter().flatten())
            .find(|p| p.name.as_deref() == Some("metrics"))
            .map_or(8080, |p| p.container_port);
        reqwest::get(format!("http://{ip}:{port}/metrics")).await.unwrap().text().await.unwrap()
    }

    /// Deletes the namespace and the volume, waits (a while) for the namespace to go,
    /// then removes the host directory.
    pub async fn shutdown(self) {
        let namespaces = Api::<Namespace>::all(self.client.clone());
        let _ = namespaces.delete(&self.namespace, &DeleteParams::default()).await;
        let _ = Api::<PersistentVolume>::all(self.client.clone()).delete(&self.pv, &DeleteParams::default()).await;
        let t = Instant::now();
        while namespaces.get_opt(&self.namespace).await.ok().flatten().is_some() {
            if t.elapsed() > Duration::from_secs(120) {
                eprintln!("e2e: namespace {} still terminating after 120s; not waiting", self.namespace);
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        if let Err(e) = std::fs::remove_dir_all(&self.host_dir) {
            eprintln!("e2e: could not remove {}: {e}", self.host_dir.display());
        }
    }
}

/// Eight lowercase hex digits, different for every test (std's random hash keys).
fn random_suffix() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    format!("{:08x}", h.finish() as u32)
}
