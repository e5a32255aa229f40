//! Controlled mode: the real binary watches its BertModel through the real
//! `kube` client, against a minimal Kubernetes API (list + watch of one
//! resource, the wire format kube-runtime's watcher speaks) served here, and
//! converges on `status.traffic`: loads listed versions, applies weights,
//! unloads what is dropped, and keeps serving when the API goes away.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::fake_api::{bertmodel, start_controlled};
use common::*;
use serde_json::{Value, json};

async fn get_json(client: &reqwest::Client, url: String) -> Value {
    client.get(url).send().await.unwrap().json().await.unwrap()
}

async fn versions_answering(client: &reqwest::Client, server: &Server, n: usize) -> (usize, usize) {
    let (mut one, mut two) = (0, 0);
    for _ in 0..n {
        let r: Value = server.infer_texts(client, "/v2/models/m/infer", &["hi"]).await;
        match r["model_version"].as_str() {
            Some("1") => one += 1,
            Some("2") => two += 1,
            _ => panic!("failed request: {r}"),
        }
    }
    (one, two)
}

fn state_of(status: &Value, v: &str) -> Option<String> {
    status["model_version_status"]
        .as_array()?
        .iter()
        .find(|s| s["version"] == v)
        .map(|s| s["state"].as_str().unwrap().to_string())
}

#[ignore = "needs `make models` (ONNX models and ONNX Runtime in .cache)"]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn converges_on_status_traffic_and_survives_the_api_going_away() {
    require_models();
    let base = tempfile::tempdir().unwrap();
    copy_version(&models_dir().join("tiny/1"), &base.path().join("1"));
    copy_version(&models_dir().join("tiny/2"), &base.path().join("2"));

    let (server, api, api_task) = start_controlled(base.path(), bertmodel()).await;
    let client = reqwest::Client::new();
    server.wait_ready(&client).await;
    let status = get_json(&client, server.url("/v1/models/m")).await;
    assert_eq!(state_of(&status, "1").as_deref(), Some("AVAILABLE"));
    assert_eq!(state_of(&status, "2"), None, "version 2 is on disk but not in status.traffic: {status}");

    // The canary appears with weight 0: loaded and warmed, but no default traffic.
    api.set_status(&[
        ("traffic", json!([{"version": "1", "weight": 100.0}, {"version": "2", "weight": 0.0}])),
        ("stableVersion", json!("1")),
        ("canaryVersion", json!("2")),
    ]);
    server.wait_for(&client, "/v2/models/m/versions/2/ready", |s, _| s == 200).await;
    assert_eq!(versions_answering(&client, &server, 30).await, (30, 0));
    // TF Serving's version labels follow the operator's stable and canary.
    for (label, version) in [("stable", "1"), ("canary", "2")] {
        let resp = client
            .post(server.url(&format!("/v1/models/m/labels/{label}:predict")))
            .json(&json!({"instances": ["hi"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        assert_eq!(resp.json::<Value>().await.unwrap()["model_version"], version, "{label}");
    }

    // A 50/50 split is per request.
    api.set_traffic(json!([{"version": "1", "weight": 50.0}, {"version": "2", "weight": 50.0}]));
    server
        .wait_for(&client, "/v1/models/m", |_, b| {
            b["model_version_status"].as_array().is_some_and(|l| l.iter().all(|s| s["traffic"] == 50.0))
        })
        .await;
    let (one, two) = versions_answering(&client, &server, 300).await;
    assert!(one > 100 && two > 100, "50/50 split gave {one}/{two}");

    // Promotion: version 1 leaves the table and is unloaded.
    api.set_traffic(json!([{"version": "2", "weight": 100.0}]));
    server.wait_for(&client, "/v1/models/m", |_, b| state_of(b, "1").as_deref() == Some("END")).await;
    assert_eq!(versions_answering(&client, &server, 20).await, (0, 20));

    // The API server goes away: the last state keeps serving.
    api_task.abort();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(versions_answering(&client, &server, 20).await, (0, 20));
    assert_eq!(client.get(server.url("/v2/health/ready")).send().await.unwrap().status().as_u16(), 200);
}

#[ignore = "needs `make models operator-fault-models` (ONNX models, ONNX Runtime and the fault models in .cache)"]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_canary_failing_requests_is_answered_by_stable_and_counted_against_it() {
    require_models();
    let errors = models_dir().join("faults/errors");
    assert!(errors.join("model.onnx").exists(), "{} is missing: run `make operator-fault-models`", errors.display());
    let base = tempfile::tempdir().unwrap();
    copy_version(&models_dir().join("tiny/2"), &base.path().join("1"));
    // 2 loads and warms up, then fails ordinary words inside ONNX Runtime.
    copy_version(&errors, &base.path().join("2"));
    let mut object = bertmodel();
    object["status"] = json!({
        "traffic": [{"version": "1", "weight": 50.0}, {"version": "2", "weight": 50.0}],
        "stableVersion": "1",
        "canaryVersion": "2",
    });
    let (server, _api, _task) = start_controlled(base.path(), object).await;
    let client = reqwest::Client::new();
    server.wait_for(&client, "/v2/models/m/versions/2/ready", |s, _| s == 200).await;

    // Every request the router sends to 2 fails there and is answered by 1.
    let started = Instant::now();
    assert_eq!(versions_answering(&client, &server, 200).await, (200, 0));
    let took = started.elapsed();
    let metrics = client.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let requests = "berth_serve_requests_total";
    let failed_on_2 = counter(&metrics, requests, &[("version", "2")])
        - counter(&metrics, requests, &[("version", "2"), ("result", "ok")]);
    let fallbacks = counter(&metrics, "berth_serve_fallbacks_total", &[("model", "m"), ("version", "2")]);
    let ok_on_1 = counter(&metrics, requests, &[("version", "1"), ("result", "ok")]);
    eprintln!(
        "200 requests in {:.2}s: {failed_on_2} failed on 2 and were answered by 1 ({fallbacks} fallbacks); 1 answered {ok_on_1}",
        took.as_secs_f64()
    );
    assert!(failed_on_2 > 50.0, "the 50/50 split sent 2 only {failed_on_2} of 200 requests");
    assert_eq!(fallbacks, failed_on_2, "every failure on 2 is one fallback");
    assert_eq!(ok_on_1, 200.0, "1 answered every request, its own and 2's");

    // A request that names 2 gets 2's answer: the failure, with V2's error body.
    let resp = client.post(server.url("/v2/models/m/versions/2/infer")).json(&text_body(&["hi"])).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 500);
    let body: Value = resp.json().await.unwrap();
    assert!(body["error"].as_str().is_some_and(|e| e.contains("inference failed")), "{body}");
    // And stable's own failures are not retried anywhere: there is nothing to fall back to.
    assert_eq!(counter(&metrics, "berth_serve_fallbacks_total", &[("version", "1")]), 0.0);
}

/// 40 client requests, every one answered by stable (version 1), then the metrics once
/// the mirrored copies they caused are answered.
async fn clients_then_metrics(client: &reqwest::Client, server: &Server) -> String {
    let texts = ["the cat sat on the mat", "a quick brown fox", "hello world", "mirrored request"];
    for round in 0..40 {
        let r: Value = server.infer_texts(client, "/v2/models/m/infer", &[texts[round % texts.len()]]).await;
        assert_eq!(r["model_version"], "1", "a client got the canary's answer: {r}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    client.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap()
}

#[ignore = "needs `make models` (ONNX models and ONNX Runtime in .cache)"]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mirrored_requests_measure_agreement_without_reaching_clients() {
    require_models();
    let base = tempfile::tempdir().unwrap();
    copy_version(&models_dir().join("tiny/2"), &base.path().join("1"));
    // 2: the same weights as 1; 3: tiny's other version, other random weights.
    copy_version(&models_dir().join("tiny/2"), &base.path().join("2"));
    copy_version(&models_dir().join("tiny/1"), &base.path().join("3"));
    let shadow = |canary: &str| {
        json!({
            "traffic": [{"version": "1", "weight": 100.0}, {"version": canary, "weight": 0.0}],
            "stableVersion": "1",
            "canaryVersion": canary,
            "mirror": 100.0,
        })
    };
    let mut object = bertmodel();
    object["status"] = shadow("2");
    let (server, api, _task) = start_controlled(base.path(), object).await;
    let client = reqwest::Client::new();
    server.wait_for(&client, "/v2/models/m/versions/2/ready", |s, _| s == 200).await;

    let mean_agreement = |metrics: &str, version: &str| {
        let sum = counter(metrics, "berth_serve_agreement_sum", &[("version", version)]);
        let count = counter(metrics, "berth_serve_agreement_count", &[("version", version)]);
        (count, if count > 0.0 { sum / count } else { f64::NAN })
    };
    let metrics = clients_then_metrics(&client, &server).await;
    let (compared, same) = mean_agreement(&metrics, "2");
    let mirrored = counter(&metrics, "berth_serve_mirrored_total", &[("version", "2")]);
    eprintln!("same weights: {mirrored} mirrored, {compared} compared, mean agreement {same:.6}");
    assert!(compared >= 10.0, "too few copies compared: {compared} of {mirrored}\n{metrics}");
    assert!(same > 0.9999, "identical weights agree {same}");
    // The copies are the canary's requests (so a shadow step is judged on errors too).
    assert_eq!(counter(&metrics, "berth_serve_requests_total", &[("version", "2"), ("result", "ok")]), compared);
    assert_eq!(counter(&metrics, "berth_serve_output_width", &[("version", "1")]), 32.0);

    // Other weights: answers still fast and 200, but they disagree.
    api.set_status(&[
        ("traffic", json!([{"version": "1", "weight": 100.0}, {"version": "3", "weight": 0.0}])),
        ("canaryVersion", json!("3")),
    ]);
    server.wait_for(&client, "/v2/models/m/versions/3/ready", |s, _| s == 200).await;
    let metrics = clients_then_metrics(&client, &server).await;
    let (compared, other) = mean_agreement(&metrics, "3");
    eprintln!("other weights: {compared} compared, mean agreement {other:.4}");
    assert!(compared >= 10.0, "too few copies compared: {compared}");
    assert!(other < 0.99, "unrelated weights agree {other}");

    // Mirroring off: no more copies.
    api.set_status(&[("mirror", Value::Null)]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = counter(&metrics, "berth_serve_mirrored_total", &[("version", "3")]);
    for _ in 0..10 {
        server.infer_texts(&client, "/v2/models/m/infer", &["hi"]).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let metrics = client.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert_eq!(counter(&metrics, "berth_serve_mirrored_total", &[("version", "3")]), before);
}
