//! Rollouts that must finish with zero failed requests although the operator or a
//! serving pod goes away in the middle, and versions that never load.

use std::time::{Duration, Instant};

use berth_api::RejectionReason;
use berth_api::conditions::is_true;
use berth_e2e::scenario::{rejected, rollout};
use berth_e2e::{Harness, Load, models_dir};
use kube::api::{DeleteParams, ListParams};
use kube::{Api, ResourceExt};
use serde_json::json;

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
    let load = Load::start(&h, 2).await;
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
    assert!(h.operator_metrics().await.contains("berth_operator_rollbacks_total"));
    // Every step of every rollout is its own Event (not folded into the first one's
    // series), and each rollback a Warning.
    let events = Api::<k8s_openapi::api::events::v1::Event>::namespaced(h.client.clone(), &h.namespace)
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

/// A serving pod is deleted while the canary is at 50% (its step pausing): the
/// Deployment replaces it, the replacement loads both versions, and the rollout
/// promotes without a single failed request (the pod drains before it stops).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs berth-serve built and the tiny models (make operator-e2e)"]
async fn serving_pod_deleted_mid_rollout_still_promotes_without_failures() {
    let h = Harness::start().await;
    let tiny = models_dir().join("tiny");
    h.repo.link("1", &tiny.join("1"));
    h.repo.link("2", &tiny.join("2"));
    let analysis = json!({"interval": "1s", "minRequests": 5, "maxP99Latency": "2s"});
    let steps = json!({"steps": [{"weight": 50, "pause": "10s"}, {"weight": 100}], "analysis": analysis,
                       "loadTimeout": "60s", "maxLoadingPods": 1});
    h.create_ready(&h.manifest("1", 2, steps)).await;
    let load = Load::start(&h, 2).await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    let t = Instant::now();
    h.merge(json!({"spec": {"version": "2"}})).await;
    h.wait("step 1", Duration::from_secs(60), |s| s.canary_weight == Some(50.0)).await;
    let victim = h.pods().await[0].name_any();
    Api::<k8s_openapi::api::core::v1::Pod>::namespaced(h.client.clone(), &h.namespace)
        .delete(&victim, &DeleteParams::default())
        .await
        .unwrap();
    eprintln!("pod {victim} deleted at 50% after {:.1}s", t.elapsed().as_secs_f64());
    let status = h
        .wait("promotion of 2 on 2 pods", Duration::from_secs(120), |s| {
            s.stable_version.as_deref() == Some("2") && s.canary_version.is_none() && s.ready_replicas == 2
        })
        .await;
    eprintln!("rollout 1 -> 2 with a pod lost at 50%: promoted in {:.1}s", t.elapsed().as_secs_f64());
    assert!(is_true(&status.conditions, "Ready"), "{status:#?}");
    assert!(!h.pods().await.iter().any(|p| p.name_any() == victim), "{victim} is still there");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let total = load.stop().await;
    eprintln!("answers: {total:?}");
    assert!(!total.contains_key("failed"), "{total:?}");
    assert!(total.get("2").copied().unwrap_or(0) > 0, "{total:?}");
    h.shutdown().await;
}
