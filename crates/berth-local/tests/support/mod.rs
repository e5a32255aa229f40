//! A whole local cluster in the test process: the real API server, the
//! controllers, kubelet and proxy, talking through the kube client.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use berth_apiserver::{ApiServerConfig, ApiServerHandle};
use berth_local::cluster::{Components, PodNetworking, kubelet_config};
use berth_local::images::{ImageMap, ImageRule};
use berth_local::kubelet::{Backoff, namespaces_available};
use berth_local::procs;
use kube::Client;
use nix::sys::signal::Signal;

pub struct TestCluster {
    pub api: Option<ApiServerHandle>,
    pub client: Client,
    components: Option<Components>,
    pub networking: PodNetworking,
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
        Self::start_full(backoff_base, None).await
    }

    /// `network_namespaces` as `ClusterOptions` takes it; `None` makes them
    /// when this machine can (as root it can; the tests run as root).
    pub async fn start_full(backoff_base: Duration, network_namespaces: Option<bool>) -> Self {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let api =
            berth_apiserver::start(ApiServerConfig::default()).await.unwrap_or_else(|e| panic!("api server: {e}"));
        let client = Client::try_from(api.kube_config()).unwrap_or_else(|e| panic!("client: {e}"));
        let networking = PodNetworking::start(dir.path(), api.addr, network_namespaces)
            .await
            .unwrap_or_else(|e| panic!("pod network: {e}"));
        let cfg = kubelet_config(
            &api,
            dir.path().to_path_buf(),
            images(),
            Backoff { base: backoff_base, max: Duration::from_secs(5) },
            namespaces_available(),
            &networking,
        );
        let components = Components::start(client.clone(), cfg);
        TestCluster { api: Some(api), client, components: Some(components), networking, dir }
    }

    /// True when pods have their own network namespaces.
    pub fn netns(&self) -> bool {
        self.networking.network().is_some()
    }

    pub async fn stop(mut self) {
        if let Some(c) = self.components.take() {
            c.shutdown().await;
        }
        self.networking.shutdown().await;
        if let Some(a) = self.api.take() {
            let _ = a.shutdown().await;
        }
        assert!(procs::pod_processes(self.dir.path()).is_empty(), "pod processes left after shutdown");
        let left = berth_local::network::leftovers(self.dir.path()).await.unwrap_or_default();
        assert!(left.is_empty(), "pod network left after shutdown: {left:?}");
    }
}

impl Drop for TestCluster {
    /// A failed test must not leave processes behind.
    fn drop(&mut self) {
        for pid in procs::pod_processes(self.dir.path()) {
            procs::signal(pid, Signal::SIGKILL);
        }
        // And no namespaces, veths or bridge (iproute2, synchronously).
        let dir = std::path::absolute(self.dir.path()).unwrap_or_else(|_| self.dir.path().to_path_buf());
        let names = berth_local::network::Names::for_state_dir(&dir);
        let _ = std::process::Command::new("ip").args(["link", "delete", &names.bridge()]).output();
        let netns = std::process::Command::new("ip").args(["netns", "list"]).output();
        let list = netns.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
        for ns in list.lines().filter_map(|l| l.split_whitespace().next()) {
            if ns.starts_with(&names.netns_prefix()) {
                let _ = std::process::Command::new("ip").args(["netns", "delete", ns]).output();
            }
        }
        berth_local::network::release_subnet(&dir);
    }
}

pub use berth_testkit::eventually as wait_for;

/// Runs the `berth` CLI with `BERTH_LOCAL_DIR=dir`; (success, stdout + stderr).
pub fn berth(dir: &std::path::Path, args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(args)
        .env("BERTH_LOCAL_DIR", dir)
        .output()
        .unwrap_or_else(|e| panic!("running berth: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// `GET /` over plain HTTP/1.0 to `addr`; the whole answer, or None when the
/// connection or the read fails or takes over two seconds.
pub async fn http_get(addr: String) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(&addr)).await.ok()?.ok()?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n").await.ok()?;
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut buf)).await.ok()?.ok()?;
    Some(String::from_utf8_lossy(&buf).into_owned())
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
