//! `berth local up` / `status` / `down` as a user runs them: a background
//! daemon, a kubeconfig, pods as processes, and nothing left after down.
mod support;

use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::PostParams;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client};
use serde_json::json;
use support::{berth, obj, wait_for};

struct Down<'a>(&'a Path);

impl Drop for Down<'_> {
    /// Whatever happens in the test, stop the daemon.
    fn drop(&mut self) {
        let _ = berth(self.0, &["local", "down"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_status_down_leaves_nothing_running() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let d = dir.path();
    let _guard = Down(d);
    let (ok, out) = berth(d, &["local", "up", "--image", "shell=/bin/sh", "--backoff-base-ms", "200"]);
    assert!(ok, "{out}");
    let kc = d.join("kubeconfig");
    assert!(out.contains(&format!("export KUBECONFIG={}", kc.display())), "{out}");
    let pid: i32 = std::fs::read_to_string(d.join("berth-local.pid"))
        .unwrap_or_default()
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("pid file: {e}"));
    assert!(berth_local::procs::alive(pid));

    let cfg = kube::Config::from_custom_kubeconfig(
        Kubeconfig::read_from(&kc).unwrap_or_else(|e| panic!("{e}")),
        &KubeConfigOptions::default(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let client = Client::try_from(cfg).unwrap_or_else(|e| panic!("{e}"));
    let pods: Api<Pod> = Api::namespaced(client, "default");
    // A pod whose shell starts a child that ignores SIGTERM: down must still
    // leave nothing behind.
    let pod: Pod = obj(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "sleeper"},
        "spec": {"terminationGracePeriodSeconds": 1, "containers": [{"name": "main", "image": "shell",
            "command": ["sh", "-c", "sh -c \"trap '' TERM; sleep 1000\" & sleep 1000"]}]}}));
    pods.create(&PostParams::default(), &pod).await.unwrap_or_else(|e| panic!("{e}"));
    wait_for("sleeper running", Duration::from_secs(20), || async {
        let p = pods.get("sleeper").await.ok()?;
        (p.status?.phase.as_deref() == Some("Running")).then_some(())
    })
    .await;
    assert!(!berth_local::procs::pod_processes(d).is_empty(), "pod processes carry the state dir");

    let (ok, out) = berth(d, &["local", "status"]);
    assert!(ok && out.contains("is running") && out.contains("1 running"), "{out}");

    let (ok, out) = berth(d, &["local", "down"]);
    assert!(ok, "{out}");
    assert!(!berth_local::procs::alive(pid), "daemon still alive");
    assert!(berth_local::procs::pod_processes(d).is_empty(), "pod processes left");
    assert!(!d.join("berth-local.pid").exists());
    let (ok, out) = berth(d, &["local", "status"]);
    assert!(ok && out.contains("not running"), "{out}");
}
