//! The `berth-operator run` binary against the in-process API server: it takes the
//! Lease, serves /healthz /readyz /metrics, reconciles, and on SIGTERM releases the
//! Lease and exits 0.

// Test helpers outside #[test] fns: a failed setup should fail the test loudly.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use berth_api::BertModel;
use berth_apiserver::ApiServerConfig;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::PostParams;
use kube::{Api, Client};
use serde_json::json;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_leads_serves_health_and_releases_on_sigterm() {
    let server = berth_apiserver::start(ApiServerConfig::default()).await.unwrap();
    let client = Client::try_from(server.kube_config()).unwrap();
    Api::<CustomResourceDefinition>::all(client.clone())
        .create(&PostParams::default(), &berth_api::crd::crd())
        .await
        .unwrap();
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, server.kubeconfig_yaml()).unwrap();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth-operator"))
        .args(["run", "--metrics-bind", &format!("127.0.0.1:{port}"), "--log-format", "json"])
        .env("KUBECONFIG", &kubeconfig)
        .env("POD_NAME", "operator-0")
        .env("POD_NAMESPACE", "default")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let http = reqwest::Client::new();
    let url = |path: &str| format!("http://127.0.0.1:{port}{path}");
    let start = Instant::now();
    loop {
        let ready = http.get(url("/readyz")).send().await.is_ok_and(|r| r.status().is_success());
        if ready {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "never ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(http.get(url("/healthz")).send().await.unwrap().status().is_success());
    let leases: Api<Lease> = Api::namespaced(client.clone(), "default");
    let holder = leases.get("berth-operator").await.unwrap().spec.and_then(|s| s.holder_identity);
    assert_eq!(holder.as_deref(), Some("operator-0"));

    // It reconciles: a model gets a status.
    let models: Api<BertModel> = Api::namespaced(client.clone(), "default");
    let model: BertModel = serde_json::from_value(json!({
        "apiVersion": "berth.dev/v1alpha1", "kind": "BertModel",
        "metadata": {"name": "m", "namespace": "default"},
        "spec": {"version": "1", "source": {"uri": "file:///m"}, "replicas": 0}
    }))
    .unwrap();
    models.create(&PostParams::default(), &model).await.unwrap();
    let start = Instant::now();
    while models.get("m").await.unwrap().status.is_none_or(|s| s.observed_generation != Some(1)) {
        assert!(start.elapsed() < Duration::from_secs(20), "no status");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let metrics = http.get(url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("berth_operator_reconciles_total"), "{metrics}");

    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "did not exit on SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
    let holder = leases.get("berth-operator").await.unwrap().spec.and_then(|s| s.holder_identity);
    assert_eq!(holder, None, "the lease was not released");
    server.shutdown().await.unwrap();
}
