//! End to end on berth-local: real berth-serve pods (local processes) serving the tiny
//! models, driven by the operator, with a load generator running throughout. Needs
//! `make models operator-fault-models` (the venv brings moto for the S3 test) and a
//! built `berth-serve`; run with
//! `make operator-e2e` (the tests are `#[ignore]`d in plain `cargo test`, and run one
//! at a time there because each starts its own cluster of real processes).

// Test helpers outside #[test] fns: a failed setup should fail the test loudly.
#![allow(clippy::unwrap_used)]

mod e2e;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use berth_api::conditions::is_true;
use berth_api::{BertModelStatus, Phase, RejectionReason};
use e2e::load::Load;
use e2e::{Harness, MODEL, S3Store, models_dir};
use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Secret, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};

fn rollout(analysis: Value) -> Value {
    json!({
        "steps": [{"weight": 50, "pause": "3s"}, {"weight": 100}],
        "analysis": analysis,
        "loadTimeout": "60s",
        "maxLoadingPods": 1
    })
}

fn rejected(status: &BertModelStatus, version: &str) -> Option<(RejectionReason, String)> {
    status.rejected_versions.iter().find(|r| r.version == version).map(|r| (r.reason, r.message.clone()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs berth-serve built and the tiny models (make operator-e2e)"]
async fn rollout_survives_an_operator_restart_and_broken_versions_roll_back() {
    let mut h = Harness::start().await;
    let tiny = models_dir().join("tiny");
    h.repo.link("1", &tiny.join("1"));
    h.repo.link("2", &tiny.join("2"));
    // 4 is a copy of 2 whose model.onnx is corrupt (the manifest's sha256 no longer
    // matches); 3 does not exist at all.
    let four = h.repo.copy("4", &tiny.join("2"));
    std::fs::write(four.join("model.onnx"), b"not an onnx model").unwrap();
    let analysis = json!({"interval": "1s", "minRequests": 5, "maxP99Latency": "2s"});
    h.create_ready(&h.manifest("1", 2, rollout(analysis))).await;
    let load = Load::start(h.client.clone(), MODEL, 2);
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Roll out version 2, restarting the operator in the middle of the 50% step: the
    // new one resumes from status.
    let t1 = Instant::now();
    h.merge(json!({"spec": {"version": "2"}})).await;
    h.wait("step 1", Duration::from_secs(60), |s| s.canary_weight == Some(50.0)).await;
    h.restart_operator().await;
    eprintln!("operator restarted at 50% after {:.1}s", t1.elapsed().as_secs_f64());
    let mut weights: Vec<f64> = vec![50.0];
    let mut judged_requests = 0u64;
    let status = h
        .watch(
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
    let during = load.answers();
    eprintln!("answers during the rollout: {during:?}");
    assert!(during.get("2").copied().unwrap_or(0) > 0, "the canary served nothing: {during:?}");
    assert_eq!(load.failures(), 0, "{during:?}");
    // The analysis read the canary's real counters from the pods' /metrics.
    eprintln!("most canary requests judged in one interval: {judged_requests}");
    assert!(judged_requests > 0);
    assert_eq!(status.traffic.len(), 1);
    assert!(is_true(&status.conditions, "Ready"));

    // No pauses, every pod loading at once: the time from spec.version to 100%.
    let t_fast = Instant::now();
    h.merge(json!({"spec": {"version": "1", "rollout": {"steps": [{"weight": 100}], "maxLoadingPods": 2}}})).await;
    h.wait("promotion of 1", Duration::from_secs(60), |s| {
        s.stable_version.as_deref() == Some("1") && s.canary_version.is_none()
    })
    .await;
    eprintln!("rollout 2 -> 1 without pauses: 100% in {:.1}s (analysis interval 1s)", t_fast.elapsed().as_secs_f64());

    // 3 does not exist, 4 is corrupt: the pods fail to load them, the operator rolls
    // back, stable is untouched.
    for (version, what) in [("3", "missing"), ("4", "corrupt")] {
        let t = Instant::now();
        h.merge(json!({"spec": {"version": version}})).await;
        let status = h
            .wait(&format!("rollback of {version}"), Duration::from_secs(120), |s| rejected(s, version).is_some())
            .await;
        let (reason, message) = rejected(&status, version).unwrap();
        eprintln!(
            "rollout 1 -> {version} ({what}) rolled back in {:.1}s: {reason:?}: {message}",
            t.elapsed().as_secs_f64()
        );
        assert_eq!(reason, RejectionReason::LoadFailed, "{message}");
        assert_eq!(status.stable_version.as_deref(), Some("1"));
        assert_eq!(status.traffic.len(), 1);
        assert!(is_true(&status.conditions, "Degraded") && is_true(&status.conditions, "Ready"));
    }
    assert!(h.metrics.render().contains("berth_operator_rollbacks_total"));
    // Every step of every rollout is its own Event (not folded into the first one's
    // series), and each rollback a Warning.
    let events = Api::<k8s_openapi::api::events::v1::Event>::namespaced(h.client.clone(), "default")
        .list(&ListParams::default())
        .await
        .unwrap();
    let notes = |reason: &str| -> Vec<String> {
        events.items.iter().filter(|e| e.reason.as_deref() == Some(reason)).filter_map(|e| e.note.clone()).collect()
    };
    let steps = notes("StepStarted");
    eprintln!("StepStarted events: {steps:?}");
    assert!(steps.iter().any(|n| n.contains("version 2 at 50%")), "{steps:?}");
    assert!(steps.iter().any(|n| n.contains("version 1")), "{steps:?}");
    let warnings: Vec<_> = events.items.iter().filter(|e| e.type_.as_deref() == Some("Warning")).collect();
    assert!(warnings.len() >= 2, "one Warning per rollback: {warnings:?}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let total = load.stop().await;
    eprintln!("answers in total: {total:?}");
    assert!(!total.contains_key("failed") && !total.contains_key("3") && !total.contains_key("4"), "{total:?}");
    h.shutdown().await;
}

/// Rolls out `version` under load and waits for its rejection with `reason`; returns
/// the status and prints how fast the rollback reacted to the first failed request.
async fn expect_rollback(
    h: &Harness,
    load: &Load,
    version: &str,
    patch: Value,
    reason: RejectionReason,
) -> BertModelStatus {
    let t = Instant::now();
    h.merge(patch).await;
    let mut first_failed_analysis = None;
    let status = h
        .watch(
            &format!("rollback of {version}"),
            Duration::from_secs(120),
            |s| {
                let judging = s.canary_version.as_deref() == Some(version);
                if first_failed_analysis.is_none()
                    && judging
                    && s.analysis.as_ref().is_some_and(|a| a.consecutive_failures > 0)
                {
                    first_failed_analysis = Some(Instant::now());
                }
            },
            |s| rejected(s, version).is_some(),
        )
        .await;
    let rolled_back = Instant::now();
    let (got, message) = rejected(&status, version).unwrap();
    eprintln!("rollout 1 -> {version} rolled back in {:.1}s: {got:?}: {message}", t.elapsed().as_secs_f64());
    if let Some(first) = load.first_failure_since(t) {
        eprintln!(
            "  rollback reaction: first failed request -> canary weight 0 in status: {:.2}s (analysis interval 1s)",
            rolled_back.duration_since(first).as_secs_f64()
        );
    }
    if let Some(first) = first_failed_analysis {
        eprintln!(
            "  rollback reaction: first failed analysis in status -> canary weight 0: {:.2}s (interval 1s, failureLimit 2)",
            rolled_back.duration_since(first).as_secs_f64()
        );
    }
    assert_eq!(got, reason, "{message}");
    assert_eq!(status.stable_version.as_deref(), Some("1"));
    assert_eq!(status.traffic.len(), 1, "{:?}", status.traffic);
    assert!(is_true(&status.conditions, "Degraded") && is_true(&status.conditions, "Ready"));
    // Once the rollback is written the pods drop the canary within a watch event:
    // from a second later on, nothing fails.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let late = load.failures_since(rolled_back + Duration::from_secs(1));
    assert!(late.is_empty(), "requests failed after the rollback of {version}: {late:?}");
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs berth-serve built and the tiny models (make operator-e2e)"]
async fn rollbacks_on_errors_latency_load_timeout_and_crash_loop() {
    let h = Harness::start().await;
    let faults = models_dir().join("faults");
    h.repo.link("1", &models_dir().join("tiny/1"));
    h.repo.link("5", &faults.join("errors"));
    h.repo.link("6", &faults.join("slow"));
    // 7 never finishes loading: its config.json is a FIFO nobody writes, like a
    // version on a hung network mount.
    let seven = h.repo.copy("7", &models_dir().join("tiny/2"));
    std::fs::remove_file(seven.join("berth-manifest.json")).unwrap();
    std::fs::remove_file(seven.join("config.json")).unwrap();
    let mkfifo = std::process::Command::new("mkfifo").arg(seven.join("config.json")).status().unwrap();
    assert!(mkfifo.success());

    // 8 is MiniLM: about 190 MB resident next to tiny's 70 MB, over the pods' 150Mi
    // memory limit, so loading it gets the pod OOMKilled, again after every restart.
    h.repo.link("8", &models_dir().join("minilm/1"));

    let analysis = json!({"interval": "1s", "minRequests": 5, "maxErrorRate": 0.05,
                          "maxP99Latency": "100ms", "failureLimit": 2});
    let mut manifest = serde_json::to_value(h.manifest("1", 2, rollout(analysis))).unwrap();
    manifest["spec"]["resources"] = json!({"requests": {"cpu": "100m"}, "limits": {"memory": "150Mi"}});
    h.create_ready(&serde_json::from_value(manifest).unwrap()).await;
    let load = Load::start(h.client.clone(), MODEL, 4);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(load.failures(), 0, "{:?}", load.answers());

    // 5 loads and warms up, then fails ordinary requests inside ONNX Runtime.
    let status = expect_rollback(&h, &load, "5", json!({"spec": {"version": "5"}}), RejectionReason::ErrorRate).await;
    let judged = status.analysis.as_ref().map(|a| (a.requests, a.error_rate));
    eprintln!("  last analysis of 5 (requests, error rate): {judged:?}");
    let failed_by_5 = load.failures();
    assert!(failed_by_5 > 0, "the broken canary never got traffic: {:?}", load.answers());

    // 6 answers correctly but takes ~170 ms a request against a 100 ms p99 limit.
    expect_rollback(&h, &load, "6", json!({"spec": {"version": "6"}}), RejectionReason::Latency).await;
    assert!(load.answers().get("6").copied().unwrap_or(0) > 0, "6 never answered: {:?}", load.answers());

    // 7 hangs while loading: rolled back after loadTimeout, stable keeps serving.
    let patch = json!({"spec": {"version": "7", "rollout": {"loadTimeout": "5s"}}});
    expect_rollback(&h, &load, "7", patch, RejectionReason::LoadTimeout).await;
    // Let the hung loads finish (config.json reads empty, a load error) so the pods
    // can shut down.
    let _ = std::process::Command::new("timeout")
        .args(["2", "sh", "-c", &format!(": > {}", seven.join("config.json").display())])
        .status();

    // 8 crashes the pod that loads it (one at a time: maxLoadingPods 1); the other pod
    // keeps serving stable. Requests in flight on the killed pod fail, as they would
    // in a cluster; none fail after the rollback.
    let before_crash = load.failures();
    let status = expect_rollback(&h, &load, "8", json!({"spec": {"version": "8"}}), RejectionReason::CrashLoop).await;
    let restarts: i32 = h
        .pods()
        .await
        .iter()
        .filter_map(|p| p.status.as_ref()?.container_statuses.as_ref())
        .flatten()
        .map(|c| c.restart_count)
        .sum();
    eprintln!(
        "  pods restarted {restarts} times in all; {} requests failed on the killed pod",
        load.failures() - before_crash
    );
    assert!(restarts >= 1 && status.ready_replicas >= 1);
    let oom = h.pods().await.iter().any(|p| {
        let statuses = p.status.as_ref().and_then(|s| s.container_statuses.clone()).unwrap_or_default();
        statuses.iter().any(|c| {
            c.last_state
                .as_ref()
                .and_then(|l| l.terminated.as_ref())
                .is_some_and(|t| t.reason.as_deref() == Some("OOMKilled"))
        })
    });
    assert!(oom, "no pod was OOMKilled loading 8");
    // After the rollback the crashed pod comes back with stable only and serves again.
    h.wait("both pods ready on 1", Duration::from_secs(60), |s| s.ready_replicas == 2).await;

    let total = load.stop().await;
    eprintln!("answers in total: {total:?} ({failed_by_5} failed while 5 was judged, none after any rollback)");
    assert!(!total.contains_key("5") && !total.contains_key("7") && !total.contains_key("8"), "{total:?}");
    h.shutdown().await;
}

/// resourceVersion of the model and of every object it owns, by kind/name.
async fn versions_of_everything(h: &Harness) -> BTreeMap<String, String> {
    let model = h.api.get(MODEL).await.unwrap();
    let uid = model.uid().unwrap();
    let mut out = BTreeMap::from([(format!("BertModel/{MODEL}"), model.resource_version().unwrap())]);
    async fn owned<K>(h: &Harness, uid: &str, out: &mut BTreeMap<String, String>)
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        let api: Api<K> = Api::namespaced(h.client.clone(), "default");
        for o in api.list(&ListParams::default()).await.unwrap() {
            if o.owner_references().iter().any(|r| r.uid == uid) {
                out.insert(format!("{}/{}", K::kind(&()), o.name_any()), o.resource_version().unwrap_or_default());
            }
        }
    }
    owned::<Deployment>(h, &uid, &mut out).await;
    owned::<Service>(h, &uid, &mut out).await;
    owned::<ServiceAccount>(h, &uid, &mut out).await;
    owned::<Role>(h, &uid, &mut out).await;
    owned::<RoleBinding>(h, &uid, &mut out).await;
    owned::<PodDisruptionBudget>(h, &uid, &mut out).await;
    out
}

/// The design's own example: versions in an S3 bucket, credentials in a Secret. The
/// pods get the bucket's address and keys only through `source.secretName`
/// (berth-local passes no host environment), download each version while it loads,
/// and the rollout runs as from a volume.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs berth-serve built, the tiny models and the venv (make operator-e2e)"]
async fn versions_from_an_s3_bucket_with_credentials_from_a_secret() {
    let h = Harness::start().await;
    let tiny = models_dir().join("tiny");
    let store = S3Store::start(&[("1", &tiny.join("1")), ("2", &tiny.join("2"))]);
    let data: BTreeMap<String, ByteString> = [
        ("AWS_ACCESS_KEY_ID", "e2e"),
        ("AWS_SECRET_ACCESS_KEY", "e2e-secret"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ENDPOINT_URL", store.endpoint.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
    .collect();
    let mut secret = Secret { data: Some(data), ..Secret::default() };
    secret.metadata.name = Some("models-s3".into());
    Api::<Secret>::namespaced(h.client.clone(), "default").create(&PostParams::default(), &secret).await.unwrap();

    let analysis = json!({"interval": "1s", "minRequests": 5, "maxP99Latency": "2s"});
    let mut manifest = h.manifest("1", 2, rollout(analysis));
    manifest.spec.source.uri = format!("s3://models/{MODEL}");
    manifest.spec.source.secret_name = Some("models-s3".into());
    h.create_ready(&manifest).await;

    let load = Load::start(h.client.clone(), MODEL, 2);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let t = Instant::now();
    h.merge(json!({"spec": {"version": "2"}})).await;
    let status = h
        .wait("promotion of 2 from the bucket", Duration::from_secs(120), |s| {
            s.stable_version.as_deref() == Some("2") && s.canary_version.is_none()
        })
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(load.failures(), 0, "{:?}", load.answers());
    let answers = load.stop().await;
    eprintln!("s3: rollout 1 -> 2 promoted in {:.1}s; answers {answers:?}", t.elapsed().as_secs_f64());
    assert!(is_true(&status.conditions, "Ready"), "{status:#?}");
    assert!(answers.get("2").copied().unwrap_or(0) > 0, "{answers:?}");

    // A version the bucket does not hold is rejected with the store's answer.
    h.merge(json!({"spec": {"version": "3"}})).await;
    let status = h.wait("rejection of 3", Duration::from_secs(60), |s| rejected(s, "3").is_some()).await;
    let (reason, message) = rejected(&status, "3").unwrap();
    eprintln!("s3: missing version 3 -> {reason:?}: {message}");
    assert_eq!(reason, RejectionReason::LoadFailed);
    assert!(message.contains("no objects under s3://models/tiny/3/"), "{message}");
    drop(store);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs berth-serve built and the tiny models (make operator-e2e)"]
async fn reapply_pause_pod_loss_scale_up_and_delete() {
    let h = Harness::start().await;
    let tiny = models_dir().join("tiny");
    h.repo.link("1", &tiny.join("1"));
    h.repo.link("2", &tiny.join("2"));
    let analysis = json!({"interval": "1s", "minRequests": 5, "maxP99Latency": "2s"});
    let manifest = h.manifest("1", 2, rollout(analysis));
    h.create_ready(&manifest).await;

    // Re-applying the same manifest changes nothing, not even a resourceVersion.
    let before = versions_of_everything(&h).await;
    assert_eq!(before.len(), 7, "the model and its six children: {before:?}");
    h.apply(&manifest).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(versions_of_everything(&h).await, before, "re-applying the same manifest changed something");

    let load = Load::start(h.client.clone(), MODEL, 2);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let t = Instant::now();
    h.merge(json!({"spec": {"version": "2"}})).await;
    h.wait("step 1", Duration::from_secs(60), |s| s.canary_weight == Some(50.0)).await;

    // Paused at 50%: the step's 3s pause runs out and nothing moves.
    h.merge(json!({"spec": {"rollout": {"paused": true}}})).await;
    h.wait("Paused", Duration::from_secs(10), |s| s.phase == Phase::Paused).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let status = h.api.get(MODEL).await.unwrap().status.unwrap();
    assert_eq!((status.phase, status.canary_weight), (Phase::Paused, Some(50.0)), "{status:#?}");

    // A serving pod dies mid-rollout: its replacement loads what status.traffic lists.
    let pods = h.pods().await;
    let victim = pods[0].name_any();
    Api::<Pod>::namespaced(h.client.clone(), "default").delete(&victim, &DeleteParams::default()).await.unwrap();
    // And the model scales up from 2 to 3 while still paused.
    h.merge(json!({"spec": {"replicas": 3}})).await;
    let status = h
        .wait("3 ready pods while paused", Duration::from_secs(90), |s| {
            s.ready_replicas == 3 && s.canary_weight == Some(50.0)
        })
        .await;
    let names: Vec<String> = h.pods().await.iter().map(|p| p.name_any()).collect();
    eprintln!("pod {victim} deleted, scaled to 3 at 50%: pods {names:?}, canary pods {:?}", status.canary_pods);
    assert!(!names.contains(&victim));

    // Resume: the rollout finishes on all three pods.
    h.merge(json!({"spec": {"rollout": {"paused": false}}})).await;
    let status = h
        .wait("promotion of 2 on 3 pods", Duration::from_secs(90), |s| {
            s.stable_version.as_deref() == Some("2") && s.canary_version.is_none() && s.ready_replicas == 3
        })
        .await;
    eprintln!("paused, lost a pod, scaled up, resumed: promoted in {:.1}s", t.elapsed().as_secs_f64());
    assert!(is_true(&status.conditions, "Ready") && !is_true(&status.conditions, "Progressing"));
    // Every pod serves 2 only: 1 was drained and unloaded.
    let http = reqwest::Client::new();
    for pod in h.pods().await {
        let ip = pod.status.and_then(|s| s.pod_ip).unwrap();
        let v: Value =
            http.get(format!("http://{ip}:8501/v1/models/{MODEL}")).send().await.unwrap().json().await.unwrap();
        let available: Vec<&str> = v["model_version_status"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["state"] == "AVAILABLE")
            .filter_map(|s| s["version"].as_str())
            .collect();
        assert_eq!(available, ["2"], "{}: {v}", pod.metadata.name.unwrap_or_default());
    }
    let total = load.stop().await;
    eprintln!("answers: {total:?}");
    assert!(!total.contains_key("failed"), "{total:?}");
    assert!(total.get("2").copied().unwrap_or(0) > 0);

    // Deleting the model removes everything it owned, pods included.
    h.api.delete(MODEL, &DeleteParams::default()).await.unwrap();
    let start = Instant::now();
    loop {
        let deployments = Api::<Deployment>::namespaced(h.client.clone(), "default").list(&ListParams::default()).await;
        let left = deployments.unwrap().items.len() + h.pods().await.len();
        if left == 0 && h.api.get_opt(MODEL).await.unwrap().is_none() {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "{left} objects left after deleting the model");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let leftovers = {
        let svc = Api::<Service>::namespaced(h.client.clone(), "default").list(&ListParams::default()).await.unwrap();
        svc.items.iter().filter(|s| s.name_any() != "kubernetes").count()
    };
    assert_eq!(leftovers, 0);
    eprintln!("model deleted: children and pods gone in {:.1}s", start.elapsed().as_secs_f64());
    h.shutdown().await;
}

/// `make operator-rollout-bench` (not part of `make test`): on MiniLM, the time from a
/// `spec.version` change to 100% on the new version with no pauses, and how fast a
/// canary that fails its requests is rolled back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "benchmark: make operator-rollout-bench"]
async fn bench_rollout_on_minilm() {
    let h = Harness::start_with("").await;
    let minilm = models_dir().join("minilm/1");
    h.repo.link("1", &minilm);
    h.repo.link("2", &minilm);
    h.repo.link("3", &models_dir().join("faults-minilm/errors"));
    let interval = "1s";
    let analysis = json!({"interval": interval, "minRequests": 5, "maxErrorRate": 0.05, "failureLimit": 1});
    let no_pauses = json!({"steps": [{"weight": 100}], "analysis": analysis, "maxLoadingPods": 2});
    h.create_ready(&h.manifest("1", 2, no_pauses)).await;
    let load = Load::start(h.client.clone(), MODEL, 2);
    tokio::time::sleep(Duration::from_secs(2)).await;

    let mut times = Vec::new();
    for version in ["2", "1", "2"] {
        let t = Instant::now();
        h.merge(json!({"spec": {"version": version}})).await;
        h.wait(&format!("100% on {version}"), Duration::from_secs(120), |s| {
            s.stable_version.as_deref() == Some(version) && s.canary_version.is_none()
        })
        .await;
        times.push(t.elapsed().as_secs_f64());
    }
    assert_eq!(load.failures(), 0, "{:?}", load.answers());

    // Version 3 fails its requests; a long first step keeps it under analysis.
    let t = Instant::now();
    let patch =
        json!({"spec": {"version": "3", "rollout": {"steps": [{"weight": 20, "pause": "60s"}, {"weight": 100}]}}});
    h.merge(patch).await;
    let status = h.wait("rollback of 3", Duration::from_secs(120), |s| rejected(s, "3").is_some()).await;
    let rolled_back = Instant::now();
    assert_eq!(rejected(&status, "3").map(|r| r.0), Some(RejectionReason::ErrorRate));
    let first = load.first_failure_since(t).expect("the broken canary never failed a request");
    let reaction = rolled_back.duration_since(first).as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let late = load.failures_since(rolled_back + Duration::from_secs(1));
    let total = load.stop().await;
    let median = {
        let mut t = times.clone();
        t.sort_by(f64::total_cmp);
        t[t.len() / 2]
    };
    println!("\nrollout benchmark, MiniLM, 2 pods with warm-up, analysis interval {interval}, load running");
    println!(
        "  spec.version change -> 100% on the new version, no pauses: {times:.1?} s, median {median:.1} s (goal < 10 s)"
    );
    println!("  first failed canary request -> canary weight 0 (rollback reaction): {reaction:.2} s (goal < 2 s)");
    println!("  answers: {total:?}");
    assert!(late.is_empty(), "requests failed after the rollback: {late:?}");
    h.shutdown().await;
}
