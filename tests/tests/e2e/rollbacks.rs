//! Every rollback cause under load: errors, latency, a load that never finishes, and a
//! canary that crashes its pods.

use std::time::Duration;

use berth_api::RejectionReason;
use berth_e2e::scenario::{expect_rollback, rollout};
use berth_e2e::{Harness, Load, models_dir};
use serde_json::json;

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
    let load = Load::start(&h, 4).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(load.failures(), 0, "{:?}", load.answers());

    // 5 loads and warms up, then fails ordinary requests inside ONNX Runtime.
    let patch = json!({"spec": {"version": "5"}});
    // The pods answer what 5 fails from stable (loaded beside it) and count the failure
    // against 5: rolled back on its error rate, and no client request fails.
    let r = expect_rollback(&h, &load, "5", "1", patch, RejectionReason::ErrorRate).await;
    let judged = r.status.analysis.as_ref().map(|a| (a.requests, a.errors, a.error_rate));
    eprintln!("  last analysis of 5 (requests, errors, error rate): {judged:?}");
    assert!(r.reaction.is_some(), "5 never took live traffic");
    assert!(judged.is_some_and(|(_, errors, _)| errors > 0), "the analysis never saw 5 fail: {judged:?}");
    let failed_by_5 = load.failures();
    assert_eq!(failed_by_5, 0, "clients saw 5 fail: {:?}", load.answers());

    // 6 answers correctly but takes ~170 ms a request against a 100 ms p99 limit.
    expect_rollback(&h, &load, "6", "1", json!({"spec": {"version": "6"}}), RejectionReason::Latency).await;
    assert!(load.answers().get("6").copied().unwrap_or(0) > 0, "6 never answered: {:?}", load.answers());

    // 7 hangs while loading: rolled back after loadTimeout, stable keeps serving.
    let patch = json!({"spec": {"version": "7", "rollout": {"loadTimeout": "5s"}}});
    expect_rollback(&h, &load, "7", "1", patch, RejectionReason::LoadTimeout).await;
    // Let the hung loads finish (config.json reads empty, a load error) so the pods
    // can shut down.
    let _ = std::process::Command::new("timeout")
        .args(["2", "sh", "-c", &format!(": > {}", seven.join("config.json").display())])
        .status();

    // 8 crashes the pod that loads it (one at a time: maxLoadingPods 1); the other pod
    // keeps serving stable. Requests in flight on the killed pod fail, as they would
    // in a cluster; none fail after the rollback. The load timeout goes back to 60s:
    // 7's 5s could run out before a busy machine has read enough of MiniLM to hit the
    // limit, and the rollback would then be for the timeout, not the crash.
    let before_crash = load.failures();
    let patch = json!({"spec": {"version": "8", "rollout": {"loadTimeout": "60s"}}});
    let status = expect_rollback(&h, &load, "8", "1", patch, RejectionReason::CrashLoop).await.status;
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
