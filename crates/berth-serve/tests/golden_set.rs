//! The golden-set gate in controlled mode: the real binary reads the ConfigMap its
//! BertModel's `rollout.goldenSet` names and runs the set through a freshly loaded
//! canary before the canary is AVAILABLE. One that misses is reported END with
//! FAILED_PRECONDITION (what the operator turns into `GoldenSet`) and never answers;
//! a missing ConfigMap fails it too; an API server that cannot answer holds it back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::fake_api::{FakeApi, bertmodel, start_controlled};
use common::*;
use serde_json::{Value, json};

const TEXTS: [&str; 6] =
    ["a fine day", "the cat sat on the mat", "stocks fell sharply", "hello world", "rain again", "ok"];

fn canary(version: &str) -> [(&'static str, Value); 3] {
    [
        ("traffic", json!([{"version": "1", "weight": 100.0}, {"version": version, "weight": 0.0}])),
        ("stableVersion", json!("1")),
        ("canaryVersion", json!(version)),
    ]
}

/// The version's entry in `GET /v1/models/m` once it is AVAILABLE or END.
async fn settled(client: &reqwest::Client, server: &Server, version: &str) -> Value {
    let status = server
        .wait_for(client, "/v1/models/m", |_, b| {
            entry(b, version).is_some_and(|e| e["state"] == "AVAILABLE" || e["state"] == "END")
        })
        .await;
    entry(&status, version).unwrap()
}

fn entry(status: &Value, version: &str) -> Option<Value> {
    status["model_version_status"].as_array()?.iter().find(|s| s["version"] == version).cloned()
}

fn golden_jsonl(texts: &[&str], vectors: &[Vec<f64>]) -> String {
    texts.iter().zip(vectors).map(|(t, v)| json!({"text": t, "embedding": v}).to_string() + "\n").collect()
}

async fn requests_reaching(client: &reqwest::Client, server: &Server, version: &str) -> u16 {
    let resp = client
        .post(server.url(&format!("/v2/models/m/versions/{version}/infer")))
        .json(&text_body(&["hi"]))
        .send()
        .await
        .unwrap();
    resp.status().as_u16()
}

#[ignore = "needs `make models` (ONNX models and ONNX Runtime in .cache)"]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_canary_answers_its_golden_set_before_it_is_available() {
    require_models();
    let base = tempfile::tempdir().unwrap();
    // 1 is stable; 2 has its weights; 3 other random weights of the same width; 4 is
    // MiniLM (384 dimensions to tiny's 32); 5 and 6 have 1's weights again.
    for (v, from) in [("1", "tiny/2"), ("2", "tiny/2"), ("3", "tiny/1"), ("4", "minilm/1"), ("5", "tiny/2")] {
        copy_version(&models_dir().join(from), &base.path().join(v));
    }
    copy_version(&models_dir().join("tiny/2"), &base.path().join("6"));
    let mut object = bertmodel();
    object["spec"]["rollout"] = json!({"goldenSet": {"configMap": "golden", "minSimilarity": 0.99}});
    let (server, api, _task): (Server, FakeApi, _) = start_controlled(base.path(), object).await;
    let client = reqwest::Client::new();
    server.wait_ready(&client).await;

    // The reference vectors: stable's own answers (what the stored vectors were made of).
    let reference = rows_of(&server.infer_texts(&client, "/v2/models/m/infer", &TEXTS).await, "embedding");
    api.put_config_map("golden", json!({"golden.jsonl": golden_jsonl(&TEXTS, &reference)}));

    // Same weights: passes and is AVAILABLE.
    api.set_status(&canary("2"));
    let two = settled(&client, &server, "2").await;
    assert_eq!(two["state"], "AVAILABLE", "{two}");
    assert!(server.log_text().contains("golden set passed"), "{}", server.log_text());

    // Other weights: mean cosine far below 0.99; END, FAILED_PRECONDITION, never served.
    api.set_status(&canary("3"));
    let three = settled(&client, &server, "3").await;
    assert_eq!(
        (three["state"].as_str(), three["status"]["error_code"].as_str()),
        (Some("END"), Some("FAILED_PRECONDITION"))
    );
    let message = three["status"]["error_message"].as_str().unwrap();
    eprintln!("3 (other weights): {message}");
    assert!(message.contains("mean cosine similarity") && message.contains("below minSimilarity 0.99"), "{message}");
    assert_eq!(requests_reaching(&client, &server, "3").await, 503);

    // Another width fails outright.
    api.set_status(&canary("4"));
    let four = settled(&client, &server, "4").await;
    let message = four["status"]["error_message"].as_str().unwrap();
    assert_eq!(four["status"]["error_code"], "FAILED_PRECONDITION", "{four}");
    assert!(message.contains("384 dimensions") && message.contains("have 32"), "{message}");

    // The API server cannot answer: 5 is held back (not even loaded) until it can.
    api.fail_config_map("golden", 503, "ServiceUnavailable");
    api.set_spec("rollout", json!({"goldenSet": {"configMap": "golden", "minSimilarity": 0.98}}));
    api.set_status(&canary("5"));
    let gets = api.config_map_gets("golden");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(api.config_map_gets("golden") > gets, "the golden set was not asked for again");
    let status: Value = client.get(server.url("/v1/models/m")).send().await.unwrap().json().await.unwrap();
    assert!(entry(&status, "5").is_none(), "5 was loaded without its golden set: {status}");
    api.put_config_map("golden", json!({"golden.jsonl": golden_jsonl(&TEXTS, &reference)}));
    assert_eq!(settled(&client, &server, "5").await["state"], "AVAILABLE");

    // A ConfigMap that is not there fails the canary, naming the field.
    api.set_spec("rollout", json!({"goldenSet": {"configMap": "golden-typo"}}));
    api.set_status(&canary("6"));
    let six = settled(&client, &server, "6").await;
    let message = six["status"]["error_message"].as_str().unwrap();
    assert_eq!(six["status"]["error_code"], "FAILED_PRECONDITION", "{six}");
    assert!(message.contains("spec.rollout.goldenSet.configMap") && message.contains("404"), "{message}");
    // Stable never stopped answering.
    assert_eq!(requests_reaching(&client, &server, "1").await, 200);
}
