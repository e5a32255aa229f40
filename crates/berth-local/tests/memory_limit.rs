//! `resources.limits.memory` enforced by the kubelet on real processes.
mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use kube::Api;
use kube::api::PostParams;
use serde_json::json;
use support::{TestCluster, obj, wait_for};

/// A python container that makes `mib` MiB resident (every page written)
/// and then sleeps, limited to `limit`.
fn hog(name: &str, mib: u32, limit: &str, restart: &str) -> Pod {
    obj(json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"restartPolicy": restart, "containers": [{
            "name": "main", "image": "python:3.12",
            "args": ["-c", format!("import time\nb = b'x' * ({mib} << 20)\nprint('allocated', flush=True)\ntime.sleep(600)")],
            "resources": {"limits": {"memory": limit, "cpu": "1"}}
        }]}
    }))
}

fn status(p: &Pod) -> Option<ContainerStatus> {
    p.status.as_ref()?.container_statuses.as_ref()?.first().cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_limit_is_oom_killed_and_restarted_under_it_runs_on() {
    let c = TestCluster::start().await;
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    let hogs =
        [hog("hog", 160, "64Mi", "Always"), hog("once", 160, "64Mi", "Never"), hog("modest", 16, "256Mi", "Always")];
    for pod in hogs {
        pods.create(&PostParams::default(), &pod).await.unwrap_or_else(|e| panic!("{e}"));
    }

    let cs = wait_for("hog OOMKilled and restarted twice", Duration::from_secs(30), || async {
        let cs = status(&pods.get("hog").await.ok()?)?;
        let last = cs.last_state.as_ref()?.terminated.as_ref()?;
        (last.reason.as_deref() == Some("OOMKilled") && cs.restart_count >= 2).then_some(cs)
    })
    .await;
    let last = cs.last_state.and_then(|s| s.terminated).unwrap_or_default();
    assert_eq!(last.exit_code, 137);
    assert!(last.message.unwrap_or_default().contains("limit of 64 MiB"));
    wait_for("hog in CrashLoopBackOff", Duration::from_secs(30), || async {
        let cs = status(&pods.get("hog").await.ok()?)?;
        (cs.state?.waiting?.reason.as_deref() == Some("CrashLoopBackOff")).then_some(())
    })
    .await;

    // restartPolicy Never: the OOM kill is the container's final state and
    // the pod fails, as in Kubernetes.
    let once = wait_for("once Failed", Duration::from_secs(20), || async {
        let p = pods.get("once").await.ok()?;
        (p.status.as_ref()?.phase.as_deref() == Some("Failed")).then_some(p)
    })
    .await;
    let term = status(&once).and_then(|s| s.state?.terminated).unwrap_or_default();
    assert_eq!((term.reason.as_deref(), term.exit_code), (Some("OOMKilled"), 137));

    // The same program under its limit was left alone all along.
    let modest = pods.get("modest").await.unwrap_or_else(|e| panic!("{e}"));
    let cs = status(&modest).unwrap_or_default();
    assert!(cs.state.and_then(|s| s.running).is_some(), "modest still running: {modest:?}");
    assert_eq!(cs.restart_count, 0);
    assert!(cs.last_state.and_then(|s| s.terminated).is_none());
    c.stop().await;
}
