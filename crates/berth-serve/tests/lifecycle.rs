//! Versions coming and going under load, broken versions, and the SIGTERM
//! drain, against the real binary polling a real directory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

#[ignore = "needs `make models` (ONNX models and ONNX Runtime in .cache)"]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hot_swap_under_load_loses_no_request() {
    require_models();
    let base = tempfile::tempdir().unwrap();
    copy_version(&models_dir().join("tiny/1"), &base.path().join("1"));
    let server = Server::start("tiny", base.path(), &["--file_system_poll_wait_seconds=0.1"]);
    let client = reqwest::Client::new();
    server.wait_ready(&client).await;

    let load = Load::start(&client, server.url("/v2/models/tiny/infer"), 4);
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Version 2 appears and version 1 is removed at once: 1 keeps serving
    // until 2 is warm, then drains.
    copy_version(&models_dir().join("tiny/2"), &base.path().join("2"));
    std::fs::remove_dir_all(base.path().join("1")).unwrap();
    server.wait_swapped(&client, "tiny", "2", "1").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_all_answered(&load.finish().await, &["1", "2"]);

    let (status, resp) = {
        let r =
            client.post(server.url("/v2/models/tiny/versions/1/infer")).json(&text_body(&["x"])).send().await.unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    };
    assert_eq!(status, 503, "{resp}");
    assert!(resp["error"].as_str().unwrap().contains("END"), "{resp}");
}

#[ignore = "needs `make models` (ONNX models and ONNX Runtime in .cache)"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_versions_are_reported_and_never_served() {
    require_models();
    let base = tempfile::tempdir().unwrap();
    copy_version(&models_dir().join("tiny/1"), &base.path().join("1"));
    let server =
        Server::start("tiny", base.path(), &["--file_system_poll_wait_seconds=0.1", "--model_version_policy=all"]);
    let client = reqwest::Client::new();
    server.wait_ready(&client).await;

    // Version 2: the graph is corrupted, so the manifest's sha256 no longer matches.
    copy_version(&models_dir().join("tiny/2"), &base.path().join("2"));
    let bad = base.path().join("2/model.onnx");
    let mut bytes = std::fs::read(&bad).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&bad, bytes).unwrap();
    // Version 3: not an ONNX graph at all, and no manifest to catch it early.
    let v3 = base.path().join(".tmp-3");
    std::fs::create_dir(&v3).unwrap();
    for f in ["config.json", "tokenizer.json", "vocab.txt"] {
        std::fs::copy(models_dir().join("tiny/1").join(f), v3.join(f)).unwrap();
    }
    std::fs::write(v3.join("model.onnx"), b"definitely not protobuf").unwrap();
    std::fs::rename(&v3, base.path().join("3")).unwrap();

    let status = server
        .wait_for(&client, "/v1/models/tiny", |_, body| {
            let list = body["model_version_status"].as_array().cloned().unwrap_or_default();
            ["2", "3"].iter().all(|v| list.iter().any(|s| s["version"] == *v && s["state"] == "END"))
        })
        .await;
    let list = status["model_version_status"].as_array().unwrap();
    let entry = |v: &str| list.iter().find(|s| s["version"] == v).unwrap().clone();
    let e2 = entry("2")["status"]["error_message"].as_str().unwrap().to_string();
    let e3 = entry("3")["status"]["error_message"].as_str().unwrap().to_string();
    assert!(e2.contains("sha256") && e2.contains("model.onnx"), "{e2}");
    assert!(e3.contains("creating session"), "{e3}");
    assert_eq!(entry("2")["status"]["error_code"], "UNKNOWN");
    assert_eq!(entry("1")["state"], "AVAILABLE");

    // Broken versions never answer: default traffic stays on 1, explicit
    // requests get 503 with the load error.
    for _ in 0..20 {
        let r: Value = server.infer_texts(&client, "/v2/models/tiny/infer", &["x"]).await;
        assert_eq!(r["model_version"], "1", "{r}");
    }
    for v in ["2", "3"] {
        let r = client
            .post(server.url(&format!("/v2/models/tiny/versions/{v}/infer")))
            .json(&text_body(&["x"]))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 503);
        let body: Value = r.json().await.unwrap();
        assert!(body["error"].as_str().unwrap().contains("not AVAILABLE"), "{body}");
        let ready = client.get(server.url(&format!("/v2/models/tiny/versions/{v}/ready"))).send().await.unwrap();
        assert_eq!(ready.status().as_u16(), 503);
    }
    let metrics = client.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains(r#"berth_serve_version_state{model="tiny",state="END",version="2"} 1"#), "{metrics}");

    // Fixing version 2's files makes the poller retry it.
    std::fs::remove_dir_all(base.path().join("2")).unwrap();
    copy_version(&models_dir().join("tiny/2"), &base.path().join("2"));
    server
        .wait_for(&client, "/v1/models/tiny/versions/2", |s, body| {
            s == 200 && body["model_version_status"][0]["state"] == "AVAILABLE"
        })
        .await;
}

#[ignore = "needs `make models` (ONNX models and ONNX Runtime in .cache)"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_with_only_a_broken_version_is_not_ready() {
    require_models();
    let base = tempfile::tempdir().unwrap();
    copy_version(&models_dir().join("tiny/1"), &base.path().join("1"));
    std::fs::write(base.path().join("1/config.json"), "{broken").unwrap();
    let server = Server::start("tiny", base.path(), &[]);
    let client = reqwest::Client::new();
    server.wait_for(&client, "/v1/models/tiny", |_, b| b["model_version_status"][0]["state"] == "END").await;
    assert_eq!(client.get(server.url("/v2/health/ready")).send().await.unwrap().status().as_u16(), 503);
    assert_eq!(client.get(server.url("/v2/models/tiny/ready")).send().await.unwrap().status().as_u16(), 503);
    assert_eq!(client.get(server.url("/v2/health/live")).send().await.unwrap().status().as_u16(), 200);
    let r = client.post(server.url("/v2/models/tiny/infer")).json(&text_body(&["x"])).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 503);
}

#[ignore = "needs `make models` (ONNX models and ONNX Runtime in .cache)"]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_turns_readiness_off_and_drains_in_flight_requests() {
    require_models();
    let mut server =
        Server::start("minilm", &models_dir().join("minilm"), &["--drain_grace_seconds=1", "--max_batch_size=4"]);
    let client = reqwest::Client::new();
    server.wait_ready(&client).await;
    // Enough work to still be running when SIGTERM arrives.
    let long = "the quick brown fox jumps over the lazy dog ".repeat(14);
    let texts: Vec<&str> = std::iter::repeat_n(long.as_str(), 64).collect();
    let body = text_body(&texts);
    let in_flight: Vec<_> = (0..3)
        .map(|_| {
            let (c, url, body) = (client.clone(), server.url("/v2/models/minilm/infer"), body.clone());
            tokio::spawn(async move { c.post(url).json(&body).send().await.map(|r| r.status().as_u16()) })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.terminate();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ready = client.get(server.url("/v2/health/ready")).send().await.unwrap();
    assert_eq!(ready.status().as_u16(), 503, "readiness must be false while draining");
    for t in in_flight {
        assert_eq!(t.await.unwrap().unwrap(), 200);
    }
    let started = Instant::now();
    let code = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "server did not exit:\n{}", server.log_text());
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(code.success(), "exit status {code}:\n{}", server.log_text());
    assert!(server.log_text().contains("drained; exiting"));
}
