//! The real berth-serve binary over Text Embeddings Inference's REST API: `/embed`
//! and `/predict` against ONNX Runtime's reference outputs, `/tokenize` against the
//! reference ids, `/info`, `/health`, `/rerank`, and TEI's error body and status
//! codes for every refusal, overload included.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{Value, json};

fn rows(v: &Value) -> Vec<Vec<f64>> {
    v.as_array().unwrap().iter().map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()).collect()
}

fn assert_tei_error(status: u16, body: &Value, want_status: u16, want_type: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error_type"], want_type, "{body}");
    assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()), "{body}");
}

#[ignore = "needs `make models` (ONNX models and ONNX Runtime in .cache)"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embed_tokenize_info_match_the_reference() {
    require_models();
    let reference = reference("tiny");
    let server = Server::start("tiny", &models_dir().join("tiny"), &["--model_version_policy=specific:1"]);
    let client = reqwest::Client::new();
    server.wait_ready(&client).await;
    let texts = ref_texts(&reference);

    // normalize defaults to true: the pooled embedding, L2-normalized.
    let (status, resp) = post(&client, server.url("/embed"), &json!({ "inputs": texts })).await;
    assert_eq!(status, 200, "{resp}");
    let got = rows(&resp);
    assert_eq!(got.len(), texts.len());
    for (g, w) in got.iter().zip(ref_rows(&reference, "embedding_normalized")) {
        assert!(max_abs_diff(g, &w) < 1e-4, "normalized embeddings differ by {}", max_abs_diff(g, &w));
    }
    // normalize false: the model's raw pooled output (tiny's config does not normalize).
    let (status, resp) = post(&client, server.url("/embed"), &json!({ "inputs": texts, "normalize": false })).await;
    assert_eq!(status, 200, "{resp}");
    for (g, w) in rows(&resp).iter().zip(ref_rows(&reference, "embedding")) {
        assert!(max_abs_diff(g, &w) < 1e-4, "raw embeddings differ by {}", max_abs_diff(g, &w));
    }
    // TEI's `/` is `/embed` on an embedding model.
    let (status, root) = post(&client, server.url("/"), &json!({ "inputs": texts })).await;
    assert_eq!(status, 200, "{root}");
    assert!(max_abs_diff(&rows(&root)[0], &got[0]) < 1e-6);
    // One string: still a list of one embedding, as TEI answers.
    let (status, resp) = post(&client, server.url("/embed"), &json!({ "inputs": texts[0] })).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(rows(&resp).len(), 1);

    // /tokenize: the reference's ids, [CLS] and [SEP] special and without offsets.
    let (status, resp) = post(&client, server.url("/tokenize"), &json!({ "inputs": texts[0] })).await;
    assert_eq!(status, 200, "{resp}");
    let tokens = resp[0].as_array().unwrap();
    let ids: Vec<i64> = tokens.iter().map(|t| t["id"].as_i64().unwrap()).collect();
    let want: Vec<i64> =
        reference["items"][0]["input_ids"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
    assert_eq!(ids, want);
    assert_eq!(tokens[0]["special"], true);
    assert_eq!(tokens[0]["start"], Value::Null);
    let first = &tokens[1];
    assert_eq!(first["special"], false);
    let (start, stop) = (first["start"].as_u64().unwrap() as usize, first["stop"].as_u64().unwrap() as usize);
    assert_eq!(first["text"].as_str().unwrap(), &texts[0][start..stop]);
    let (_, resp) =
        post(&client, server.url("/tokenize"), &json!({ "inputs": [texts[0]], "add_special_tokens": false })).await;
    assert_eq!(resp[0].as_array().unwrap().len(), want.len() - 2, "{resp}");

    let info: Value = client.get(server.url("/info")).send().await.unwrap().json().await.unwrap();
    assert_eq!(info["model_id"], "tiny");
    assert_eq!(info["model_type"], json!({ "embedding": { "pooling": "mean" } }));
    assert_eq!(info["max_input_length"], 128);
    assert_eq!(info["model_sha"], Value::Null);
    assert!(info["version"].as_str().is_some() && info["max_batch_tokens"].as_u64().is_some(), "{info}");
    assert_eq!(client.get(server.url("/health")).send().await.unwrap().status(), 200);

    // Refusals, each in TEI's shape and with TEI's status.
    let cases = [
        (json!({ "inputs": [] }), 400, "Empty"),
        (json!({ "nope": 1 }), 422, "Validation"),
        (json!({ "inputs": "x", "truncation_direction": "Left" }), 413, "Validation"),
        (json!({ "inputs": "x", "prompt_name": "query" }), 413, "Validation"),
        (json!({ "inputs": long_text().repeat(2) }), 413, "Validation"),
    ];
    for (body, status, kind) in cases {
        let (s, resp) = post(&client, server.url("/embed"), &body).await;
        assert_tei_error(s, &resp, status, kind);
    }
    let resp = client.post(server.url("/embed")).body("{not json").send().await.unwrap();
    let status = resp.status().as_u16();
    assert_tei_error(status, &resp.json().await.unwrap(), 422, "Validation");
    // truncate: true cuts to the maximum, like V2 does.
    let long = long_text().repeat(2);
    let (status, resp) = post(&client, server.url("/embed"), &json!({ "inputs": long, "truncate": true })).await;
    assert_eq!(status, 200, "{resp}");
    let (_, v2) = post(&client, server.url("/v2/models/tiny/infer"), &text_body(&[&long])).await;
    assert_eq!(v2["parameters"]["truncated"], true, "{v2}");
    let raw = rows_of(&v2, "embedding").remove(0);
    let norm = raw.iter().map(|x| x * x).sum::<f64>().sqrt();
    let want: Vec<f64> = raw.iter().map(|x| x / norm).collect();
    assert!(max_abs_diff(&rows(&resp)[0], &want) < 1e-5);

    let (s, resp) = post(&client, server.url("/predict"), &json!({ "inputs": "x" })).await;
    assert_tei_error(s, &resp, 424, "Backend");
    let (s, resp) = post(&client, server.url("/rerank"), &json!({ "query": "q", "texts": ["a"] })).await;
    assert_tei_error(s, &resp, 424, "Backend");
    let (s, resp) = post(&client, server.url("/rerank"), &json!({ "query": "q", "texts": [] })).await;
    assert_tei_error(s, &resp, 400, "Empty");
    let req = client.post(server.url("/embed")).header("x-berth-model", "other").json(&json!({ "inputs": "x" }));
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap();
    assert_tei_error(status, &body, 422, "Validation");
    assert!(body["error"].as_str().unwrap().contains("\"tiny\""), "names the served model: {body}");
}

#[ignore = "needs `make models` (ONNX models and ONNX Runtime in .cache)"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn predict_matches_the_classifier_reference() {
    require_models();
    let reference = reference("tiny-classifier");
    let server = Server::start("clf", &models_dir().join("tiny-classifier"), &[]);
    let client = reqwest::Client::new();
    server.wait_ready(&client).await;
    let texts = ref_texts(&reference);
    let want = ref_rows(&reference, "probabilities");
    let labels = ["NEGATIVE", "POSITIVE"];
    let check = |row: &Value, want: &[f64]| {
        let row = row.as_array().unwrap();
        assert_eq!(row.len(), 2);
        assert!(row[0]["score"].as_f64().unwrap() >= row[1]["score"].as_f64().unwrap(), "best first: {row:?}");
        for p in row {
            let i = labels.iter().position(|l| p["label"] == *l).unwrap();
            assert!((p["score"].as_f64().unwrap() - want[i]).abs() < 1e-4, "{p} vs {want:?}");
        }
    };
    let (status, resp) = post(&client, server.url("/predict"), &json!({ "inputs": texts[0] })).await;
    assert_eq!(status, 200, "{resp}");
    check(&resp, &want[0]);
    // TEI's `/` is `/predict` on a classifier.
    let (status, resp) = post(&client, server.url("/"), &json!({ "inputs": texts[0] })).await;
    assert_eq!(status, 200, "{resp}");
    check(&resp, &want[0]);
    let batch: Vec<Value> = texts.iter().map(|t| json!([t])).collect();
    let (status, resp) = post(&client, server.url("/predict"), &json!({ "inputs": batch })).await;
    assert_eq!(status, 200, "{resp}");
    for (row, w) in resp.as_array().unwrap().iter().zip(&want) {
        check(row, w);
    }
    let (status, resp) = post(&client, server.url("/predict"), &json!({ "inputs": texts })).await;
    assert_eq!((status, resp.as_array().unwrap().len()), (200, texts.len()), "three or more texts are a batch");

    let info: Value = client.get(server.url("/info")).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        info["model_type"],
        json!({ "classifier": { "id2label": { "0": "NEGATIVE", "1": "POSITIVE" },
                                "label2id": { "NEGATIVE": 0, "POSITIVE": 1 } } })
    );
    let cases = [
        (json!({ "inputs": ["a", "b"] }), 413, "Validation"),
        (json!({ "inputs": "a", "raw_scores": true }), 413, "Validation"),
        (json!({ "inputs": [] }), 400, "Empty"),
    ];
    for (body, status, kind) in cases {
        let (s, resp) = post(&client, server.url("/predict"), &body).await;
        assert_tei_error(s, &resp, status, kind);
    }
    let (s, resp) = post(&client, server.url("/embed"), &json!({ "inputs": "a" })).await;
    assert_tei_error(s, &resp, 424, "Backend");
}

#[ignore = "needs `make models` (ONNX models and ONNX Runtime in .cache)"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_is_tei_overloaded() {
    require_models();
    let client = reqwest::Client::new();
    let server = start_overloadable(&client).await;
    let long = long_text();
    let body = json!({ "inputs": [long, long, long, long], "truncate": true });
    let (mut ok, mut overloaded) = (0, 0);
    for (status, resp) in burst(&client, server.url("/embed"), &body, 48).await {
        match status {
            200 => ok += 1,
            429 => {
                assert_eq!(resp["error_type"], "Overloaded", "{resp}");
                overloaded += 1;
            }
            other => panic!("unexpected {other}: {resp}"),
        }
    }
    assert!(ok > 0 && overloaded > 0, "{ok} answered, {overloaded} overloaded");
}
