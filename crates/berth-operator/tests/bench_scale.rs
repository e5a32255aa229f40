//! Benchmark (`make operator-bench`, ignored in `cargo test`): N BertModels with
//! `replicas: 0` on the local API server, the release `berth-operator run` binary as a
//! child process; prints the time until every model has its children and a status,
//! and the operator's peak memory (VmHWM).

// Test helpers outside #[test] fns: a failed setup should fail the test loudly.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use berth_api::BertModel;
use berth_apiserver::ApiServerConfig;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ListParams, PostParams};
use kube::{Api, Client};
use serde_json::json;

fn peak_memory_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: make operator-bench"]
async fn many_models_reconcile() {
    let n: usize = std::env::var("BERTH_BENCH_MODELS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let binary = std::env::var("BERTH_OPERATOR_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_berth-operator").into());
    let server = berth_apiserver::start(ApiServerConfig::default()).await.unwrap();
    let client = Client::try_from(server.kube_config()).unwrap();
    Api::<CustomResourceDefinition>::all(client.clone())
        .create(&PostParams::default(), &berth_api::crd::crd())
        .await
        .unwrap();
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, server.kubeconfig_yaml()).unwrap();
    let models: Api<BertModel> = Api::namespaced(client.clone(), "default");
    for i in 0..n {
        let model: BertModel = serde_json::from_value(json!({
            "apiVersion": "berth.dev/v1alpha1", "kind": "BertModel",
            "metadata": {"name": format!("m{i}"), "namespace": "default"},
            "spec": {"version": "1", "source": {"uri": "file:///m"}, "replicas": 0}
        }))
        .unwrap();
        models.create(&PostParams::default(), &model).await.unwrap();
    }
    let start = Instant::now();
    let mut child = Command::new(&binary)
        .args(["run", "--metrics-bind", "127.0.0.1:0", "--no-leader-election"])
        .env("KUBECONFIG", &kubeconfig)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let mut peak = 0;
    loop {
        peak = peak.max(peak_memory_kib(child.id()).unwrap_or(0));
        let done = models
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .iter()
            .filter(|m| m.status.as_ref().is_some_and(|s| s.observed_generation == Some(1)))
            .count();
        if done == n && deployments.list(&ListParams::default()).await.unwrap().items.len() == n {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(600), "only {done} of {n} reconciled");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let elapsed = start.elapsed();
    peak = peak.max(peak_memory_kib(child.id()).unwrap_or(0));
    println!(
        "operator-bench: {n} BertModels (replicas 0) reconciled with children and status in {:.1}s \
         ({:.1} models/s); operator peak memory {:.1} MiB",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64(),
        peak as f64 / 1024.0
    );
    let _ = child.kill();
    let _ = child.wait();
    server.shutdown().await.unwrap();
}
