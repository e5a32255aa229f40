//! End to end on berth-local: real berth-serve pods (local processes) serving the tiny
//! models, driven by the operator. Needs `make models` and a built `berth-serve`;
//! run with `make operator-e2e` (it is `#[ignore]`d in plain `cargo test`).

// Test helpers outside #[test] fns: a failed setup should fail the test loudly.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use berth_api::conditions::is_true;
use berth_api::{BertModel, BertModelStatus, RejectionReason};
use berth_local::cluster::{ClusterConfig, LocalCluster};
use berth_local::images::{ImageMap, ImageRule};
use berth_local::kubelet::Backoff;
use berth_operator::build::BuildConfig;
use berth_operator::controller::{self, Context, Metrics};
use futures::FutureExt;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use tokio::sync::watch;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// The "image": berth-serve with the ONNX Runtime library a real image would bake in,
/// listening on the pod's own loopback address.
fn serve_wrapper(dir: &Path) -> PathBuf {
    let root = root();
    let script = dir.join("berth-serve-image");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nexport ORT_DYLIB_PATH={ort}\nexec {bin} --host \"$BERTH_POD_IP\" --warmup=false \"$@\"\n",
            ort = root.join(".cache/ort/libonnxruntime.so").display(),
            bin = root.join("target/debug/berth-serve").display(),
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

async fn wait_status(
    api: &Api<BertModel>,
    what: &str,
    within: Duration,
    mut seen: impl FnMut(&BertModelStatus),
    done: impl Fn(&BertModelStatus) -> bool,
) -> BertModelStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = api.get("tiny").await.ok().and_then(|m| m.status) {
            seen(&status);
            if done(&status) {
                return status;
            }
        }
        assert!(start.elapsed() < within, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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
    (stop, tokio::spawn(controller::run(ctx, vec!["default".into()], shutdown)))
}

/// Answers by version ("failed" for anything that is not a 200 with a version).
type Tally = Arc<Mutex<BTreeMap<String, u64>>>;

/// Sends requests to the ready serving pods, as a Service would, until `running` is
/// cleared, counting the answers by version and every failure.
fn load(client: kube::Client, running: Arc<AtomicBool>, tally: Tally) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let http = reqwest::Client::new();
        let pods: Api<Pod> = Api::namespaced(client, "default");
        let body = json!({"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["a fine day"]}]});
        let mut i = 0usize;
        let mut ips: Vec<String> = Vec::new();
        while running.load(Ordering::Acquire) {
            if i.is_multiple_of(20)
                && let Ok(list) = pods.list(&ListParams::default().labels("berth.dev/model=tiny")).await
            {
                ips = list
                    .items
                    .iter()
                    .filter(|p| p.metadata.deletion_timestamp.is_none())
                    .filter(|p| {
                        p.status
                            .as_ref()
                            .and_then(|s| s.conditions.as_ref())
                            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
                    })
                    .filter_map(|p| p.status.as_ref().and_then(|s| s.pod_ip.clone()))
                    .collect();
            }
            i += 1;
            let Some(ip) = ips.get(i % ips.len().max(1)).cloned() else {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            };
            let answer = http
                .post(format!("http://{ip}:8501/v2/models/tiny/infer"))
                .json(&body)
                .timeout(Duration::from_secs(5))
                .send()
                .await;
            let key = match answer {
                Ok(r) if r.status().is_success() => r
                    .json::<serde_json::Value>()
                    .await
                    .ok()
                    .and_then(|v| v["model_version"].as_str().map(str::to_string))
                    .unwrap_or_else(|| "failed".into()),
                Ok(r) => format!("failed-{}", r.status().as_u16()),
                Err(_) => "failed".into(),
            };
            *tally.lock().unwrap().entry(key).or_default() += 1;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
}

fn failures(tally: &Tally) -> u64 {
    tally.lock().unwrap().iter().filter(|(k, _)| k.starts_with("failed")).map(|(_, n)| n).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs berth-serve built and the tiny models (make operator-e2e)"]
async fn create_rollout_and_rollback_with_real_pods() {
    let root = root();
    let tiny = root.join(".cache/models/tiny");
    assert!(tiny.join("1/model.onnx").exists(), "run `make models` first");
    assert!(root.join("target/debug/berth-serve").exists(), "build berth-serve first");
    let work = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let wrapper = serve_wrapper(work.path());
    // The repository: versions 1 and 2 of the tiny model, and 4, a copy of 2 whose
    // model.onnx is corrupt (its manifest's sha256 no longer matches).
    let models = work.path().join("repo");
    std::fs::create_dir_all(models.join("4")).unwrap();
    for v in ["1", "2"] {
        std::os::unix::fs::symlink(tiny.join(v), models.join(v)).unwrap();
    }
    for entry in std::fs::read_dir(tiny.join("2")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), models.join("4").join(entry.file_name())).unwrap();
    }
    std::fs::write(models.join("4/model.onnx"), b"not an onnx model").unwrap();
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
    let (mut stop, mut operator) = start_operator(&client, &metrics);

    let api: Api<BertModel> = Api::namespaced(client.clone(), "default");
    let model: BertModel = serde_json::from_value(json!({
        "apiVersion": "berth.dev/v1alpha1", "kind": "BertModel",
        "metadata": {"name": "tiny", "namespace": "default"},
        "spec": {
            "version": "1",
            "source": {"uri": format!("file://{}", models.display())},
            "replicas": 2,
            "resources": {"requests": {"cpu": "100m"}},
            "rollout": {
                "steps": [{"weight": 50, "pause": "3s"}, {"weight": 100}],
                "analysis": {"interval": "1s", "minRequests": 5, "maxP99Latency": "2s"},
                "loadTimeout": "60s",
                "maxLoadingPods": 1
            }
        }
    }))
    .unwrap();
    let params = PatchParams::apply("e2e").force();
    let t0 = Instant::now();
    api.patch("tiny", &params, &Patch::Apply(&model)).await.unwrap();
    let status = wait_status(
        &api,
        "Ready",
        Duration::from_secs(120),
        |_| {},
        |s| is_true(&s.conditions, "Ready") && s.stable_version.as_deref() == Some("1"),
    )
    .await;
    eprintln!("create -> Ready: {:.1}s ({} ready pods)", t0.elapsed().as_secs_f64(), status.ready_replicas);

    let running = Arc::new(AtomicBool::new(true));
    let tally: Tally = Arc::default();
    let generator = load(client.clone(), Arc::clone(&running), Arc::clone(&tally));
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Roll out version 2 and record the traffic steps as they happen.
    let t1 = Instant::now();
    let patch = json!({"spec": {"version": "2"}});
    api.patch("tiny", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    // Restart the operator in the middle of the 50% step: it resumes from status.
    wait_status(&api, "step 1", Duration::from_secs(60), |_| {}, |s| s.canary_weight == Some(50.0)).await;
    let _ = stop.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(10), operator).await;
    (stop, operator) = start_operator(&client, &metrics);
    eprintln!("operator restarted at 50% after {:.1}s", t1.elapsed().as_secs_f64());
    let mut weights: Vec<f64> = vec![50.0];
    let mut judged_requests = 0u64;
    let status = wait_status(
        &api,
        "promotion of 2",
        Duration::from_secs(120),
        |s| {
            judged_requests = judged_requests.max(s.analysis.as_ref().map_or(0, |a| a.requests));
            if let Some(w) = s.canary_weight
                && weights.last() != Some(&w)
            {
                weights.push(w);
            }
        },
        |s| s.stable_version.as_deref() == Some("2") && s.canary_version.is_none(),
    )
    .await;
    eprintln!("rollout 1 -> 2 promoted in {:.1}s, canary weights seen {weights:?}", t1.elapsed().as_secs_f64());
    assert!(weights.contains(&50.0), "{weights:?}");
    let during = tally.lock().unwrap().clone();
    eprintln!("answers during the rollout: {during:?}");
    assert!(during.get("2").copied().unwrap_or(0) > 0, "the canary served nothing: {during:?}");
    assert_eq!(failures(&tally), 0, "{during:?}");
    // The analysis read the canary's real counters from the pods' /metrics.
    eprintln!("most canary requests judged in one interval: {judged_requests}");
    assert!(judged_requests > 0);
    assert_eq!(status.traffic.len(), 1);
    assert!(is_true(&status.conditions, "Ready"));

    // No pauses, every pod loading at once: the time from spec.version to 100%.
    let t_fast = Instant::now();
    let patch = json!({"spec": {"version": "1", "rollout": {"steps": [{"weight": 100}], "maxLoadingPods": 2}}});
    api.patch("tiny", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    wait_status(
        &api,
        "promotion of 1",
        Duration::from_secs(60),
        |_| {},
        |s| s.stable_version.as_deref() == Some("1") && s.canary_version.is_none(),
    )
    .await;
    eprintln!("rollout 2 -> 1 without pauses: 100% in {:.1}s (analysis interval 1s)", t_fast.elapsed().as_secs_f64());
    assert_eq!(failures(&tally), 0);

    // Version 3 does not exist: the pods fail to load it and the operator rolls back.
    let t2 = Instant::now();
    let patch = json!({"spec": {"version": "3"}});
    api.patch("tiny", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    let status = wait_status(
        &api,
        "rollback of 3",
        Duration::from_secs(120),
        |_| {},
        |s| s.rejected_versions.iter().any(|r| r.version == "3"),
    )
    .await;
    eprintln!("rollout 1 -> 3 rolled back in {:.1}s", t2.elapsed().as_secs_f64());
    let rejected = status.rejected_versions.iter().find(|r| r.version == "3").unwrap();
    eprintln!("rejected 3: {:?}: {}", rejected.reason, rejected.message);
    assert!(
        matches!(rejected.reason, RejectionReason::LoadFailed | RejectionReason::LoadTimeout),
        "{:?}: {}",
        rejected.reason,
        rejected.message
    );
    assert_eq!(status.stable_version.as_deref(), Some("1"));
    assert_eq!(status.traffic.len(), 1);
    assert!(is_true(&status.conditions, "Degraded") && is_true(&status.conditions, "Ready"));
    assert!(metrics.render().contains("berth_operator_rollbacks_total"));

    // Version 4's model file is corrupt: a load failure again, stable untouched.
    let t3 = Instant::now();
    let patch = json!({"spec": {"version": "4"}});
    api.patch("tiny", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    let status = wait_status(
        &api,
        "rollback of 4",
        Duration::from_secs(120),
        |_| {},
        |s| s.rejected_versions.iter().any(|r| r.version == "4"),
    )
    .await;
    let rejected = status.rejected_versions.iter().find(|r| r.version == "4").unwrap();
    eprintln!(
        "rollout 1 -> 4 (corrupt) rolled back in {:.1}s: {:?}: {}",
        t3.elapsed().as_secs_f64(),
        rejected.reason,
        rejected.message
    );
    assert_eq!(rejected.reason, RejectionReason::LoadFailed);
    assert_eq!(status.stable_version.as_deref(), Some("1"));
    assert_eq!(status.rejected_versions.len(), 2);
    tokio::time::sleep(Duration::from_secs(1)).await;
    running.store(false, Ordering::Release);
    let _ = generator.await;
    let total = tally.lock().unwrap().clone();
    eprintln!("answers in total: {total:?}");
    assert_eq!(failures(&tally), 0, "{total:?}");
    assert!(!total.contains_key("3") && !total.contains_key("4"));

    let _ = stop.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(10), operator).await;
    cluster.shutdown().await.unwrap();
}
