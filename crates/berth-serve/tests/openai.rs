//! The real berth-serve binary over OpenAI's embeddings API: `/v1/embeddings` for
//! texts and token ids, float and base64, against ONNX Runtime's reference outputs,
//! real token counts in `usage`, `/v1/models`, and OpenAI's error body for refusals.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use base64::Engine;
use common::*;
use serde_json::{Value, json};

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

fn assert_openai_error(status: u16, body: &Value, want: u16) {
    assert_eq!(status, want, "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    assert!(body["error"]["type"].as_str().is_some(), "{body}");
}

#[ignore = "needs `make models` (ONNX models and ONNX Runtime in .cache)"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeddings_match_the_reference_with_real_usage() {
    require_models();
    let reference = reference("tiny");
    let server = Server::start("tiny", &models_dir().join("tiny"), &["--model_version_policy=specific:1"]);
    let client = reqwest::Client::new();
    server.wait_ready(&client).await;
    let texts = ref_texts(&reference);
    let want = ref_rows(&reference, "embedding");
    let ids: Vec<Vec<i64>> = reference["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["input_ids"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect())
        .collect();
    let tokens: usize = ids.iter().map(Vec::len).sum();

    let (status, resp) = post(&client, server.url("/v1/embeddings"), &json!({ "input": texts, "model": "tiny" })).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!((resp["object"].as_str(), resp["model"].as_str()), (Some("list"), Some("tiny")));
    assert_eq!(resp["usage"], json!({ "prompt_tokens": tokens, "total_tokens": tokens }));
    let data = resp["data"].as_array().unwrap();
    assert_eq!(data.len(), texts.len());
    for (i, (d, w)) in data.iter().zip(&want).enumerate() {
        assert_eq!((d["object"].as_str(), d["index"].as_u64()), (Some("embedding"), Some(i as u64)));
        let got = floats(&d["embedding"]);
        assert!(max_abs_diff(&got, w) < 1e-4, "text embeddings differ by {}", max_abs_diff(&got, w));
    }

    // base64: little-endian f32, the same values.
    let body = json!({ "input": texts[0], "model": "tiny", "encoding_format": "base64" });
    let (status, resp) = post(&client, server.url("/v1/embeddings"), &body).await;
    assert_eq!(status, 200, "{resp}");
    let bytes =
        base64::engine::general_purpose::STANDARD.decode(resp["data"][0]["embedding"].as_str().unwrap()).unwrap();
    let got: Vec<f64> = bytes.chunks(4).map(|c| f64::from(f32::from_le_bytes(c.try_into().unwrap()))).collect();
    assert!(max_abs_diff(&got, &want[0]) < 1e-4);
    assert_eq!(resp["usage"]["prompt_tokens"], ids[0].len());

    // Token ids: one list, or a list of lists, counted as given.
    let (status, resp) = post(&client, server.url("/v1/embeddings"), &json!({ "input": ids, "model": "x" })).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["usage"]["total_tokens"], tokens);
    for (d, w) in resp["data"].as_array().unwrap().iter().zip(&want) {
        assert!(max_abs_diff(&floats(&d["embedding"]), w) < 1e-4);
    }
    let (status, resp) = post(&client, server.url("/v1/embeddings"), &json!({ "input": ids[1], "model": "x" })).await;
    assert_eq!(status, 200, "{resp}");
    assert!(max_abs_diff(&floats(&resp["data"][0]["embedding"]), &want[1]) < 1e-4);

    let (status, resp) = post(&client, server.url("/v1/embeddings"), &json!({ "input": "a", "dimensions": 32 })).await;
    assert_eq!(status, 200, "the model's own width is accepted: {resp}");

    let cases = [
        json!({ "input": "a", "dimensions": 16 }),
        json!({ "input": [] }),
        json!({ "input": [""] }),
        json!({ "input": [[999999]] }),
        json!({ "input": long_text().repeat(2) }),
        json!({ "nope": true }),
        json!({ "input": "a", "encoding_format": "int8" }),
    ];
    for body in cases {
        let (status, resp) = post(&client, server.url("/v1/embeddings"), &body).await;
        assert_openai_error(status, &resp, 400);
        assert_eq!(resp["error"]["type"], "invalid_request_error", "{body}: {resp}");
    }
    let req = client.post(server.url("/v1/embeddings")).header("x-berth-model", "nope").json(&json!({ "input": "a" }));
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap();
    assert_openai_error(status, &body, 404);
    assert_eq!(body["error"]["code"], "model_not_found");

    let models: Value = client.get(server.url("/v1/models")).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        models,
        json!({ "object": "list", "data": [{ "id": "tiny", "object": "model", "created": 0, "owned_by": "berth" }] })
    );
}

#[ignore = "needs `make models` (ONNX models and ONNX Runtime in .cache)"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_classifier_has_no_embeddings() {
    require_models();
    let server = Server::start("clf", &models_dir().join("tiny-classifier"), &[]);
    let client = reqwest::Client::new();
    server.wait_ready(&client).await;
    let (status, resp) = post(&client, server.url("/v1/embeddings"), &json!({ "input": "a", "model": "clf" })).await;
    assert_openai_error(status, &resp, 400);
}

#[ignore = "needs `make models` (ONNX models and ONNX Runtime in .cache)"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_is_a_429() {
    require_models();
    let client = reqwest::Client::new();
    let server = start_overloadable(&client).await;
    let long = long_text();
    let body = json!({ "input": [long, long, long, long], "model": "minilm" });
    let (mut ok, mut overloaded) = (0, 0);
    for (status, resp) in burst(&client, server.url("/v1/embeddings"), &body, 48).await {
        match status {
            200 => ok += 1,
            429 => {
                assert_eq!(resp["error"]["code"], "rate_limit_exceeded", "{resp}");
                overloaded += 1;
            }
            other => panic!("unexpected {other}: {resp}"),
        }
    }
    assert!(ok > 0 && overloaded > 0, "{ok} answered, {overloaded} overloaded");
}
