//! A whole local cluster in the test process: the real API server, the
//! controllers, kubelet and proxy, talking through the kube client.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use berth_apiserver::{ApiServerConfig, ApiServerHandle};
use berth_local::cluster::Components;
use berth_local::images::{ImageMap, ImageRule};
use berth_local::kubelet::{Backoff, KubeletConfig, namespaces_available};
use berth_local::procs;
use kube::Client;
use nix::sys::signal::Signal;

pub struct TestCluster {
    pub api: Option<ApiServerHandle>,
    pub client: Client,
    components: Option<Components>,
    pub dir: tempfile::TempDir,
}

pub fn python() -> PathBuf {
    let out = std::process::Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .unwrap_or_else(|e| panic!("python3: {e}"));
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// kubectl 1.35, cached by the project's tool setup.
pub fn kubectl() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.cache/k8s-tools/kubectl")
}

pub fn images() -> ImageMap {
    ImageMap::new(vec![
        ImageRule { pattern: "python".into(), binary: python() },
        ImageRule { pattern: "shell".into(), binary: PathBuf::from("/bin/sh") },
        ImageRule { pattern: "kubectl".into(), binary: kubectl() },
    ])
}

impl TestCluster {
    pub async fn start() -> Self {
        Self::start_with(Duration::from_millis(200)).await
    }

    pub async fn start_with(backoff_base: Duration) -> Self {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let api =
            berth_apiserver::start(ApiServerConfig::default()).await.unwrap_or_else(|e| panic!("api server: {e}"));
        let client = Client::try_from(api.kube_config()).unwrap_or_else(|e| panic!("client: {e}"));
        let cfg = KubeletConfig {
            node_name: "berth-local".into(),
            state_dir: dir.path().to_path_buf(),
            images: images(),
            backoff: Backoff { base: backoff_base, max: Duration::from_secs(5) },
            mount_namespaces: namespaces_available(),
            api_url: api.url(),
            pod_kubeconfig: api.kubeconfig_yaml(),
        };
        let components = Components::start(client.clone(), cfg);
        TestCluster { api: Some(api), client, components: Some(components), dir }
    }

    pub async fn stop(mut self) {
        if let Some(c) = self.components.take() {
            c.shutdown().await;
        }
        if let Some(a) = self.api.take() {
            let _ = a.shutdown().await;
        }
        assert!(procs::pod_processes(self.dir.path()).is_empty(), "pod processes left after shutdown");
    }
}

impl Drop for TestCluster {
    /// A failed test must not leave processes behind.
    fn drop(&mut self) {
        for pid in procs::pod_processes(self.dir.path()) {
            procs::signal(pid, Signal::SIGKILL);
        }
    }
}

/// Polls `f` until it returns Some, or panics with `what` after `timeout`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn obj<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
    serde_json::from_value(v).unwrap_or_else(|e| panic!("bad test object: {e}"))
}

/// A Deployment serving HTTP with python's http.server on the pod's own IP.
/// The port is uncommon on purpose: pods share the host's network namespace,
/// so anything else on this machine listening on 0.0.0.0:PORT would block it.
pub fn web_deployment(name: &str, replicas: i32, version: &str) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "terminationGracePeriodSeconds": 2,
                    "containers": [{
                        "name": "web", "image": "python:3.11",
                        "args": ["-m", "http.server", "38080", "--bind", "$(POD_IP)"],
                        "env": [
                            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                            {"name": "VERSION", "value": version}
                        ],
                        "ports": [{"name": "http", "containerPort": 38080}],
                        "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1},
                        "livenessProbe": {"tcpSocket": {"port": 38080}, "periodSeconds": 2, "initialDelaySeconds": 2}
                    }]
                }
            }
        }
    })
}
