//! The berth-local ground: a cluster started in this process whose "image" is the real
//! berth-serve binary (a wrapper script), and the operator's controller running in the
//! test process.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use berth_local::cluster::{ClusterConfig, LocalCluster};
use berth_local::images::{ImageMap, ImageRule};
use berth_local::kubelet::Backoff;
use berth_operator::build::BuildConfig;
use berth_operator::controller::{self, Context, Metrics};
use futures::FutureExt;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::PostParams;
use tokio::sync::watch;

use crate::root;

/// The namespace the local ground's tests use (each test has its own cluster).
pub const NAMESPACE: &str = "default";

pub struct LocalGround {
    pub work: tempfile::TempDir,
    pub cluster: LocalCluster,
    pub metrics: Arc<Metrics>,
    client: kube::Client,
    stop: watch::Sender<bool>,
    operator: tokio::task::JoinHandle<()>,
}

impl LocalGround {
    /// `serve_args` go to every berth-serve the pods run.
    pub async fn start(serve_args: &str) -> LocalGround {
        let root = root();
        assert!(root.join("target/debug/berth-serve").exists(), "build berth-serve first");
        let tmp = root.join("target/tmp");
        std::fs::create_dir_all(&tmp).unwrap();
        let work = tempfile::tempdir_in(tmp).unwrap();
        let wrapper = serve_wrapper(work.path(), serve_args);
        let cluster = LocalCluster::start(ClusterConfig {
            state_dir: work.path().join("cluster"),
            port: 0,
            images: ImageMap::new(vec![ImageRule { pattern: "berth-serve".into(), binary: wrapper }]),
            backoff: Backoff { base: Duration::from_secs(1), max: Duration::from_secs(5) },
            mount_namespaces: None,
            persist: false,
        })
        .await
        .unwrap();
        let client = cluster.client.clone();
        Api::<CustomResourceDefinition>::all(client.clone())
            .create(&PostParams::default(), &berth_api::crd::crd())
            .await
            .unwrap();
        let metrics = Arc::new(Metrics::new().unwrap());
        let (stop, operator) = start_operator(&client, &metrics);
        LocalGround { work, cluster, metrics, client, stop, operator }
    }

    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// The address pods reach this machine at: the pod network's gateway, or
    /// loopback where pods share the host network.
    pub fn host_address(&self) -> std::net::IpAddr {
        match self.cluster.networking.network() {
            Some(n) => std::net::IpAddr::V4(n.subnet().gateway()),
            None => std::net::IpAddr::from([127, 0, 0, 1]),
        }
    }

    /// Where the test's model repository lives.
    pub fn repo_path(&self) -> PathBuf {
        self.work.path().join("repo")
    }

    /// Stops the operator (as a rolling update of its Deployment would) and starts a
    /// new one that knows only what the API server holds.
    pub async fn restart_operator(&mut self) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(10), &mut self.operator).await;
        (self.stop, self.operator) = start_operator(&self.client, &self.metrics);
    }

    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(10), self.operator).await;
        self.cluster.shutdown().await.unwrap();
        drop(self.work);
    }
}

/// The "image": berth-serve with the ONNX Runtime library a real image would bake in
/// and the test's flags. It binds 0.0.0.0 in the pod's own network namespace, as in a
/// container (where berth-local falls back to shared-network pods, it sets
/// BERTH_BIND_ADDRESS to the pod's loopback address instead).
fn serve_wrapper(dir: &Path, serve_args: &str) -> PathBuf {
    let root = root();
    let script = dir.join("berth-serve-image");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nexport ORT_DYLIB_PATH={ort}\nexec {bin} {serve_args} \"$@\"\n",
            ort = root.join(".cache/ort/libonnxruntime.so").display(),
            bin = root.join("target/debug/berth-serve").display(),
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

/// The controller in this process, as `berth-operator run` would run it.
fn start_operator(client: &kube::Client, metrics: &Arc<Metrics>) -> (watch::Sender<bool>, tokio::task::JoinHandle<()>) {
    let ctx = Arc::new(Context::new(
        client.clone(),
        BuildConfig { serve_image: "ghcr.io/berth-dev/berth-serve:test".into() },
        Arc::clone(metrics),
        None,
    ));
    let (stop, mut rx) = watch::channel(false);
    let shutdown = async move {
        let _ = rx.wait_for(|s| *s).await;
    }
    .boxed()
    .shared();
    (stop, tokio::spawn(controller::run(ctx, vec![NAMESPACE.into()], shutdown)))
}
