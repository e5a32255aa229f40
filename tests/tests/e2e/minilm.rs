//! MiniLM (all-MiniLM-L6-v2) with 2 pods warming up each version: a rollout through
//! steps, a corrupt version and a version that fails its requests rolled back, with
//! the timings printed as `e2e-timing:` lines to compare the grounds; and the rollout
//! benchmark (`make operator-rollout-bench`).

use std::time::{Duration, Instant};

use berth_api::RejectionReason;
use berth_api::conditions::is_true;
use berth_e2e::ground::timing;
use berth_e2e::scenario::{expect_rollback, rejected};
use berth_e2e::{Harness, Load, models_dir};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs berth-serve built, MiniLM and its fault models (make operator-e2e)"]
async fn minilm_rollout_and_rollbacks_with_timings() {
    let h = Harness::start_named("minilm", "").await;
    let minilm = models_dir().join("minilm/1");
    h.repo.link("1", &minilm);
    h.repo.link("2", &minilm);
    // 3: a copy of 2 whose model.onnx is corrupt; 4: MiniLM failing ordinary requests.
    let three = h.repo.copy("3", &minilm);
    std::fs::write(three.join("model.onnx"), b"not an onnx model").unwrap();
    h.repo.link("4", &models_dir().join("faults-minilm/errors"));

    let analysis = json!({"interval": "1s", "minRequests": 5, "maxErrorRate": 0.05,
                          "maxP99Latency": "2s", "failureLimit": 1});
    let steps = json!({"steps": [{"weight": 50, "pause": "3s"}, {"weight": 100}], "analysis": analysis,
                       "loadTimeout": "120s", "maxLoadingPods": 1});
    let t = Instant::now();
    h.create_ready(&h.manifest("1", 2, steps)).await;
    timing(&h.ground, "minilm create->Ready", t.elapsed().as_secs_f64());
    let load = Load::start(&h, 2).await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let t = Instant::now();
    h.merge(json!({"spec": {"version": "2"}})).await;
    let mut weights: Vec<f64> = Vec::new();
    let status = h
        .watch(
            "promotion of 2",
            Duration::from_secs(180),
            |s| {
                if let Some(w) = s.canary_weight
                    && weights.last() != Some(&w)
                {
                    weights.push(w);
                }
            },
            |s| s.stable_version.as_deref() == Some("2") && s.canary_version.is_none(),
        )
        .await;
    timing(&h.ground, "minilm version-change->100%", t.elapsed().as_secs_f64());
    eprintln!("minilm: rollout 1 -> 2 through {weights:?}; answers {:?}", load.answers());
    assert!(weights.contains(&50.0), "{weights:?}");
    assert!(is_true(&status.conditions, "Ready"));
    assert_eq!(load.failures(), 0, "{:?}", load.answers());
    assert!(load.answers().get("2").copied().unwrap_or(0) > 0, "{:?}", load.answers());

    // The corrupt version never loads: rejected, no request fails.
    let r = expect_rollback(&h, &load, "3", "2", json!({"spec": {"version": "3"}}), RejectionReason::LoadFailed).await;
    timing(&h.ground, "minilm corrupt-version->rejected", r.took.as_secs_f64());
    assert_eq!(load.failures(), 0, "{:?}", load.answers());

    // The version failing its requests: rolled back on the error rate.
    let r = expect_rollback(&h, &load, "4", "2", json!({"spec": {"version": "4"}}), RejectionReason::ErrorRate).await;
    let reaction = r.reaction.expect("the failing canary never took live traffic");
    assert_eq!(r.failed, 0, "clients saw the failing canary fail: {:?}", load.answers());
    timing(&h.ground, "minilm rollback-reaction", reaction.as_secs_f64());
    timing(&h.ground, "minilm error-version->rejected", r.took.as_secs_f64());
    let total = load.stop().await;
    eprintln!("minilm: answers in total {total:?}");
    assert!(!total.contains_key("3") && !total.contains_key("4"), "{total:?}");
    h.shutdown().await;
}

/// `make operator-rollout-bench` (not part of `make test`): on MiniLM, the time from a
/// `spec.version` change to 100% on the new version with no pauses, and how fast a
/// canary that fails its requests is rolled back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "benchmark: make operator-rollout-bench"]
async fn bench_rollout_on_minilm() {
    let h = Harness::start_named("minilm", "").await;
    let minilm = models_dir().join("minilm/1");
    h.repo.link("1", &minilm);
    h.repo.link("2", &minilm);
    h.repo.link("3", &models_dir().join("faults-minilm/errors"));
    let interval = "1s";
    let analysis = json!({"interval": interval, "minRequests": 5, "maxErrorRate": 0.05, "failureLimit": 1});
    let no_pauses = json!({"steps": [{"weight": 100}], "analysis": analysis, "maxLoadingPods": 2});
    h.create_ready(&h.manifest("1", 2, no_pauses)).await;
    let load = Load::start(&h, 2).await;
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
    let mut live = None;
    let status = h
        .watch(
            "rollback of 3",
            Duration::from_secs(120),
            |s| {
                if live.is_none()
                    && s.canary_version.as_deref() == Some("3")
                    && s.canary_weight.is_some_and(|w| w > 0.0)
                {
                    live = Some(Instant::now());
                }
            },
            |s| rejected(s, "3").is_some(),
        )
        .await;
    let rolled_back = Instant::now();
    assert_eq!(rejected(&status, "3").map(|r| r.0), Some(RejectionReason::ErrorRate));
    let live = live.expect("the broken canary never took live traffic");
    let reaction = rolled_back.duration_since(live).as_secs_f64();
    let failed_by_3 = load.failures_since(t).len();
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
    println!("  failing canary live in status -> canary weight 0 (rollback reaction): {reaction:.2} s (goal < 2 s)");
    println!("  client requests that failed while it was live: {failed_by_3} (stable answers what it fails)");
    println!("  answers: {total:?}");
    assert!(late.is_empty(), "requests failed after the rollback: {late:?}");
    h.shutdown().await;
}
