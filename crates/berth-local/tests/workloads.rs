//! Deployments, ReplicaSets, Endpoints and the service proxy, end to end with
//! real HTTP servers as pods.
mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use support::{TestCluster, http_get, obj, wait_for, web_deployment};

fn pod_ready(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_none()
        && p.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

async fn rolled_out(api: &Api<Deployment>, name: &str, replicas: i32) -> Option<Deployment> {
    let d = api.get(name).await.ok()?;
    let s = d.status.clone()?;
    let progressing = s.conditions.iter().flatten().find(|c| c.type_ == "Progressing")?;
    (s.observed_generation == d.metadata.generation
        && s.updated_replicas == Some(replicas)
        && s.replicas == Some(replicas)
        && s.available_replicas == Some(replicas)
        && progressing.reason.as_deref() == Some("NewReplicaSetAvailable"))
    .then_some(d)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployment_becomes_ready_and_service_proxy_reaches_pods() {
    let c = TestCluster::start().await;
    let deps: Api<Deployment> = Api::namespaced(c.client.clone(), "default");
    deps.create(&PostParams::default(), &obj(web_deployment("web", 2, "v1"))).await.unwrap_or_else(|e| panic!("{e}"));
    wait_for("deployment web available", Duration::from_secs(60), || rolled_out(&deps, "web", 2)).await;
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    let list = pods.list(&ListParams::default().labels("app=web")).await.unwrap_or_else(|e| panic!("{e}"));
    let ips: BTreeSet<String> = list.items.iter().filter_map(|p| p.status.as_ref()?.pod_ip.clone()).collect();
    assert_eq!(ips.len(), 2, "each pod has its own address: {ips:?}");
    for ip in &ips {
        let body = http_get(format!("{ip}:38080")).await.unwrap_or_default();
        assert!(body.starts_with("HTTP/1.0 200"), "{ip}: {body}");
    }
    let svcs: Api<Service> = Api::namespaced(c.client.clone(), "default");
    let svc: Service = obj(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}));
    svcs.create(&PostParams::default(), &svc).await.unwrap_or_else(|e| panic!("{e}"));
    let eps: Api<Endpoints> = Api::namespaced(c.client.clone(), "default");
    wait_for("endpoints with both pods", Duration::from_secs(20), || async {
        let e = eps.get("web").await.ok()?;
        let got: BTreeSet<String> =
            e.subsets.iter().flatten().flat_map(|s| s.addresses.iter().flatten().map(|a| a.ip.clone())).collect();
        let port = e.subsets.as_ref()?.first()?.ports.as_ref()?.first()?.port;
        (got == ips && port == 38080).then_some(())
    })
    .await;
    let ip = wait_for("cluster IP", Duration::from_secs(10), || async {
        svcs.get("web").await.ok()?.spec?.cluster_ip.filter(|ip| ip.starts_with("127."))
    })
    .await;
    let body = wait_for("proxy answers", Duration::from_secs(10), || http_get(format!("{ip}:80"))).await;
    assert!(body.starts_with("HTTP/1.0 200"), "{body}");
    for _ in 0..4 {
        let b = http_get(format!("{ip}:80")).await.unwrap_or_default();
        assert!(b.starts_with("HTTP/1.0 200"), "{b}");
    }

    // Endpoints follow readiness: break one pod's readiness probe path.
    let target = &list.items[0];
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "web",
        "readinessProbe": {"httpGet": {"path": "/missing", "port": "http"}, "periodSeconds": 1, "failureThreshold": 1}}]}}}});
    let _ = target;
    deps.patch("web", &PatchParams::default(), &Patch::Strategic(&patch)).await.unwrap_or_else(|e| panic!("{e}"));
    // maxUnavailable 0: the new pod never becomes ready, so both old pods stay
    // in the Endpoints and the new one is listed as not ready.
    wait_for("new pod listed as not ready", Duration::from_secs(30), || async {
        let e = eps.get("web").await.ok()?;
        let ready: BTreeSet<String> =
            e.subsets.iter().flatten().flat_map(|s| s.addresses.iter().flatten().map(|a| a.ip.clone())).collect();
        let not_ready = e.subsets.iter().flatten().flat_map(|s| s.not_ready_addresses.iter().flatten()).count();
        (ready == ips && not_ready == 1).then_some(())
    })
    .await;
    let d = deps.get("web").await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(d.status.as_ref().and_then(|s| s.available_replicas), Some(2));
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_update_honours_max_surge_and_max_unavailable() {
    let c = TestCluster::start().await;
    let deps: Api<Deployment> = Api::namespaced(c.client.clone(), "default");
    deps.create(&PostParams::default(), &obj(web_deployment("roll", 3, "v1"))).await.unwrap_or_else(|e| panic!("{e}"));
    wait_for("v1 available", Duration::from_secs(60), || rolled_out(&deps, "roll", 3)).await;
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "web",
        "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                {"name": "VERSION", "value": "v2"}]}]}}}});
    deps.patch("roll", &PatchParams::default(), &Patch::Strategic(&patch)).await.unwrap_or_else(|e| panic!("{e}"));
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    let (mut max_total, mut min_ready) = (0usize, usize::MAX);
    loop {
        let list = pods.list(&ListParams::default().labels("app=roll")).await.unwrap_or_else(|e| panic!("{e}"));
        let live: Vec<&Pod> = list.items.iter().filter(|p| p.metadata.deletion_timestamp.is_none()).collect();
        max_total = max_total.max(live.len());
        min_ready = min_ready.min(live.iter().filter(|p| pod_ready(p)).count());
        if rolled_out(&deps, "roll", 3).await.is_some() && live.len() == 3 {
            let d = deps.get("roll").await.unwrap_or_else(|e| panic!("{e}"));
            if d.status.as_ref().and_then(|s| s.observed_generation) == Some(2) {
                break;
            }
        }
        assert!(std::time::Instant::now() < deadline, "rollout did not finish");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(max_total <= 4, "maxSurge 1 allows 4 pods, saw {max_total}");
    assert!(min_ready >= 3, "maxUnavailable 0 keeps 3 ready, saw {min_ready}");
    let sets: Api<ReplicaSet> = Api::namespaced(c.client.clone(), "default");
    let rs = sets.list(&ListParams::default().labels("app=roll")).await.unwrap_or_else(|e| panic!("{e}")).items;
    assert_eq!(rs.len(), 2);
    let newest = rs.iter().find(|r| r.spec.as_ref().and_then(|s| s.replicas) == Some(3));
    let rev = newest.and_then(|r| r.metadata.annotations.as_ref()?.get("deployment.kubernetes.io/revision").cloned());
    assert_eq!(rev.as_deref(), Some("2"));
    let d = deps.get("roll").await.unwrap_or_else(|e| panic!("{e}"));
    let ann = d.metadata.annotations.as_ref().and_then(|a| a.get("deployment.kubernetes.io/revision").cloned());
    assert_eq!(ann.as_deref(), Some("2"));
    // Scale down: the deployment follows.
    deps.patch("roll", &PatchParams::default(), &Patch::Merge(&json!({"spec": {"replicas": 1}})))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    wait_for("scaled to 1", Duration::from_secs(30), || rolled_out(&deps, "roll", 1)).await;
    c.stop().await;
}

#[ignore = "needs kubectl: make k8s-tools"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_rollout_status_succeeds() {
    let kubectl = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.cache/k8s-tools/kubectl");
    assert!(kubectl.exists(), "kubectl missing at {}: run `make k8s-tools`", kubectl.display());
    let c = TestCluster::start().await;
    let kc = c.dir.path().join("kubeconfig");
    let yaml = c.api.as_ref().map(|a| a.kubeconfig_yaml()).unwrap_or_default();
    std::fs::write(&kc, yaml).unwrap_or_else(|e| panic!("{e}"));
    let deps: Api<Deployment> = Api::namespaced(c.client.clone(), "default");
    deps.create(&PostParams::default(), &obj(web_deployment("kc", 2, "v1"))).await.unwrap_or_else(|e| panic!("{e}"));
    let out = tokio::process::Command::new(&kubectl)
        .args(["rollout", "status", "deployment/kc", "--timeout=90s"])
        .env("KUBECONFIG", &kc)
        .output()
        .await
        .unwrap_or_else(|e| panic!("kubectl: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("successfully rolled out"), "{stdout}");
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stuck_rollout_reports_progress_deadline_exceeded() {
    let c = TestCluster::start().await;
    let deps: Api<Deployment> = Api::namespaced(c.client.clone(), "default");
    let mut d = web_deployment("stuck", 1, "v1");
    d["spec"]["progressDeadlineSeconds"] = json!(2);
    d["spec"]["template"]["spec"]["containers"][0]["image"] = json!("not-mapped:1");
    deps.create(&PostParams::default(), &obj(d)).await.unwrap_or_else(|e| panic!("{e}"));
    wait_for("ProgressDeadlineExceeded", Duration::from_secs(20), || async {
        let d = deps.get("stuck").await.ok()?;
        let c = d.status?.conditions?.into_iter().find(|c| c.type_ == "Progressing")?;
        (c.status == "False" && c.reason.as_deref() == Some("ProgressDeadlineExceeded")).then_some(())
    })
    .await;
    c.stop().await;
}
