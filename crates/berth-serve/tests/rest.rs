//! The real berth-serve binary over REST: outputs against ONNX Runtime's own
//! reference outputs, MiniLM's paraphrase ranking, metadata and status
//! endpoints, every bad-input case, truncation, and overload.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{Value, json};

#[ignore = "needs `make models` (ONNX models and ONNX Runtime in .cache)"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiny_embeddings_match_onnx_runtime_for_texts_and_ids() {
    require_models();
    let reference = reference("tiny");
    let server = Server::start("tiny", &models_dir().join("tiny"), &["--model_version_policy=all"]);
    let client = reqwest::Client::new();
    server.wait_ready(&client).await;
    // Version 1 is the reference's; both versions are loaded under "all".
    server.wait_for(&client, "/v2/models/tiny/versions/1/ready", |s, _| s == 200).await;
    server.wait_for(&client, "/v2/models/tiny/versions/2/ready", |s, _| s == 200).await;
    let texts = ref_texts(&reference);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let want = ref_rows(&reference, "embedding");

    let (status, resp) = post(&client, server.url("/v2/models/tiny/versions/1/infer"), &text_body(&refs)).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["model_version"], "1");
    let got = rows_of(&resp, "embedding");
    for (g, w) in got.iter().zip(&want) {
        assert!(max_abs_diff(g, w) < 1e-4, "text embeddings differ by {}", max_abs_diff(g, w));
    }

    let (status, resp) = post(&client, server.url("/v2/models/tiny/versions/1/infer"), &ids_body(&reference)).await;
    assert_eq!(status, 200, "{resp}");
    for (g, w) in rows_of(&resp, "embedding").iter().zip(&want) {
        assert!(max_abs_diff(g, w) < 1e-4, "id embeddings differ by {}", max_abs_diff(g, w));
    }

    // One text at a time (batched with nobody) gives the same answers.
    for (text, w) in refs.iter().zip(&want) {
        let (_, resp) = post(&client, server.url("/v2/models/tiny/versions/1/infer"), &text_body(&[text])).await;
        assert!(max_abs_diff(&rows_of(&resp, "embedding")[0], w) < 1e-4);
    }

    // Without a version, the newest AVAILABLE (2) answers.
    let (status, resp) = post(&client, server.url("/v2/models/tiny/infer"), &text_body(&["hello"])).await;
    assert_eq!(status, 200);
    assert_eq!(resp["model_version"], "2");

    // TF Serving's predict API, same answers.
    let (status, resp) =
        post(&client, server.url("/v1/models/tiny/versions/1:predict"), &json!({"instances": refs})).await;
    assert_eq!(status, 200, "{resp}");
    for (g, w) in resp["predictions"].as_array().unwrap().iter().zip(&want) {
        let g: Vec<f64> = g.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        assert!(max_abs_diff(&g, w) < 1e-4);
    }
    let (status, resp) =
        post(&client, server.url("/v1/models/tiny:predict"), &json!({"instances": [{"text": "hi"}]})).await;
    assert_eq!((status, resp["model_version"].as_str()), (200, Some("2")));
    let (status, resp) = post(&client, server.url("/v1/models/tiny:predict"), &json!({"instances": []})).await;
    assert_eq!(status, 400, "{resp}");
    let (status, _) = post(&client, server.url("/v1/models/nope:predict"), &json!({"instances": ["x"]})).await;
    assert_eq!(status, 404);
}

#[ignore = "needs `make models` (ONNX models and ONNX Runtime in .cache)"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minilm_matches_reference_and_ranks_paraphrases() {
    require_models();
    let reference = reference("minilm");
    let server = Server::start("minilm", &models_dir().join("minilm"), &[]);
    let client = reqwest::Client::new();
    server.wait_ready(&client).await;
    let texts = ref_texts(&reference);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let (status, resp) = post(&client, server.url("/v2/models/minilm/infer"), &text_body(&refs)).await;
    assert_eq!(status, 200, "{resp}");
    let got = rows_of(&resp, "embedding");
    assert_eq!(got[0].len(), 384);
    for (g, w) in got.iter().zip(ref_rows(&reference, "embedding")) {
        assert!(max_abs_diff(g, &w) < 1e-4, "MiniLM embeddings differ by {}", max_abs_diff(g, &w));
    }

    let pairs = [
        ("A man is playing a guitar.", "Someone plays a guitar.", "The stock market fell today."),
        ("The cat sat on the mat.", "A cat is sitting on a rug.", "Interest rates rose again this quarter."),
        ("How do I reset my password?", "I forgot my password, how can I change it?", "The train leaves at noon."),
    ];
    for (a, paraphrase, unrelated) in pairs {
        let (_, resp) =
            post(&client, server.url("/v2/models/minilm/infer"), &text_body(&[a, paraphrase, unrelated])).await;
        let e = rows_of(&resp, "embedding");
        let (near, far) = (cosine(&e[0], &e[1]), cosine(&e[0], &e[2]));
        assert!(near > far + 0.2, "{a:?}: paraphrase {near:.3} vs unrelated {far:.3}");
    }
}

#[ignore = "needs `make models` (ONNX models and ONNX Runtime in .cache)"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classifier_gives_reference_probabilities_and_labels() {
    require_models();
    let reference = reference("tiny-classifier");
    let server = Server::start("sentiment", &models_dir().join("tiny-classifier"), &[]);
    let client = reqwest::Client::new();
    server.wait_ready(&client).await;
    let texts = ref_texts(&reference);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let (status, resp) = post(&client, server.url("/v2/models/sentiment/infer"), &text_body(&refs)).await;
    assert_eq!(status, 200, "{resp}");
    for (g, w) in rows_of(&resp, "probabilities").iter().zip(ref_rows(&reference, "probabilities")) {
        assert!(max_abs_diff(g, &w) < 1e-4);
    }
    let labels = resp["outputs"].as_array().unwrap().iter().find(|o| o["name"] == "label").unwrap();
    assert_eq!(labels["datatype"], "BYTES");
    let want: Vec<Value> = reference["items"].as_array().unwrap().iter().map(|i| i["label"].clone()).collect();
    assert_eq!(labels["data"].as_array().unwrap(), &want);

    // Only the requested output comes back.
    let mut body = text_body(&["fine"]);
    body["outputs"] = json!([{"name": "label"}]);
    let (status, resp) = post(&client, server.url("/v2/models/sentiment/infer"), &body).await;
    assert_eq!(status, 200);
    assert_eq!(resp["outputs"].as_array().unwrap().len(), 1);

    let meta: Value = client.get(server.url("/v2/models/sentiment")).send().await.unwrap().json().await.unwrap();
    let outputs: Vec<&str> = meta["outputs"].as_array().unwrap().iter().map(|o| o["name"].as_str().unwrap()).collect();
    assert_eq!(outputs, ["probabilities", "label"]);
    assert_eq!(meta["outputs"][0]["shape"], json!([-1, 2]));
}

#[ignore = "needs `make models` (ONNX models and ONNX Runtime in .cache)"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_metadata_status_and_metrics() {
    require_models();
    let server = Server::start("tiny", &models_dir().join("tiny"), &[]);
    let client = reqwest::Client::new();
    server.wait_ready(&client).await;
    let get = |path: &str| {
        let c = client.clone();
        let url = server.url(path);
        async move {
            let r = c.get(url).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    assert_eq!(get("/v2/health/live").await.0, 200);
    let (status, server_meta) = get("/v2").await;
    assert_eq!(status, 200);
    assert_eq!(server_meta["name"], "berth-serve");
    let (status, meta) = get("/v2/models/tiny").await;
    assert_eq!(status, 200);
    assert_eq!(meta["versions"], json!(["2"]));
    assert_eq!(meta["outputs"], json!([{"name": "embedding", "datatype": "FP32", "shape": [-1, 32]}]));
    assert!(meta["inputs"].as_array().unwrap().iter().any(|i| i["name"] == "text" && i["datatype"] == "BYTES"));
    assert_eq!(get("/v2/models/tiny/ready").await.0, 200);
    assert_eq!(get("/v2/models/tiny/versions/2").await.0, 200);
    assert_eq!(get("/v2/models/tiny/versions/2/ready").await.0, 200);
    assert_eq!(get("/v2/models/nope/ready").await.0, 404);
    assert_eq!(get("/v2/models/tiny/versions/9").await.0, 404);

    let (status, tf) = get("/v1/models/tiny").await;
    assert_eq!(status, 200);
    assert_eq!(
        tf["model_version_status"][0],
        json!({"version": "2", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}, "traffic": 100.0})
    );
    assert_eq!(get("/v1/models/tiny/versions/2").await.0, 200);
    assert_eq!(get("/v1/models/other").await.0, 404);

    let (status, _) = post(&client, server.url("/v2/models/tiny/infer"), &text_body(&["a", "b"])).await;
    assert_eq!(status, 200);
    let text = client.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    for needle in [
        r#"berth_serve_requests_total{model="tiny",result="ok",version="2"} 1"#,
        r#"berth_serve_request_duration_seconds_count{model="tiny",version="2"} 1"#,
        r#"berth_serve_batch_size_count{model="tiny",version="2"}"#,
        r#"berth_serve_queue_depth{model="tiny",version="2"} 0"#,
        r#"berth_serve_model_load_duration_seconds{model="tiny",version="2"}"#,
        r#"berth_serve_version_state{model="tiny",state="AVAILABLE",version="2"} 1"#,
        r#"berth_serve_version_state{model="tiny",state="LOADING",version="2"} 0"#,
    ] {
        assert!(text.contains(needle), "metrics lack {needle}:\n{text}");
    }
}

#[ignore = "needs `make models` (ONNX models and ONNX Runtime in .cache)"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_gets_a_clear_4xx() {
    require_models();
    let server = Server::start("tiny", &models_dir().join("tiny"), &["--max_request_bytes=4096"]);
    let client = reqwest::Client::new();
    server.wait_ready(&client).await;
    let infer = "/v2/models/tiny/infer";
    let big = "x".repeat(5000);
    let cases: Vec<(&str, String, u16, &str)> = vec![
        (infer, "{not json".into(), 400, "malformed request JSON"),
        (infer, r#"{"inputs": "text"}"#.into(), 400, "malformed"),
        (infer, r#"{"inputs": []}"#.into(), 400, "no inputs"),
        (infer, r#"{"inputs": [{"name": "text", "datatype": "BYTES", "shape": [0], "data": []}]}"#.into(), 400, "empty input"),
        (infer, r#"{"inputs": [{"name": "text", "datatype": "BYTES", "shape": [2], "data": ["a"]}]}"#.into(), 400, "holds 2 elements"),
        (infer, r#"{"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": [5]}]}"#.into(), 400, "needs strings"),
        (infer, r#"{"inputs": [{"name": "text", "datatype": "FP32", "shape": [1], "data": [0.5]}]}"#.into(), 400, "datatype FP32"),
        (infer, r#"{"inputs": [{"name": "nope", "datatype": "BYTES", "shape": [1], "data": ["a"]}]}"#.into(), 400, "unexpected inference input \"nope\": the model's inputs are text (BYTES)"),
        (infer, r#"{"inputs": [{"name": "input_ids", "datatype": "INT64", "shape": [2], "data": [101, 102]}]}"#.into(), 400, "[batch, sequence]"),
        (infer, r#"{"inputs": [{"name": "input_ids", "datatype": "INT64", "shape": [1, 2], "data": [101, 99999999]}]}"#.into(), 400, "outside the vocabulary"),
        (infer, r#"{"inputs": [{"name": "input_ids", "datatype": "INT64", "shape": [1, 2], "data": [101, 102]}, {"name": "attention_mask", "datatype": "INT64", "shape": [2, 1], "data": [1, 1]}]}"#.into(), 400, "has shape"),
        (infer, r#"{"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["a"]}], "outputs": [{"name": "logits"}]}"#.into(), 400, "unknown output"),
        ("/v2/models/nope/infer", text_body(&["a"]).to_string(), 404, "unknown model"),
        ("/v2/models/tiny/versions/7/infer", text_body(&["a"]).to_string(), 404, "no version \"7\""),
        ("/v2/models/tiny/versions/x/infer", text_body(&["a"]).to_string(), 404, "no version"),
        (infer, text_body(&[&big]).to_string(), 413, "larger than the limit of 4096 bytes"),
    ];
    for (path, body, want_status, want_text) in cases {
        let resp = client
            .post(server.url(path))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let json: Value = resp.json().await.unwrap_or(Value::Null);
        let message = json["error"].as_str().unwrap_or_else(|| panic!("{path} {body:.80}: no error field in {json}"));
        assert_eq!(status, want_status, "{body:.100} -> {message}");
        assert!(message.contains(want_text), "{body:.100}: {message:?} should mention {want_text:?}");
    }
    // The server is still fine after all of that.
    let (status, _) = post(&client, server.url(infer), &text_body(&["still alive"])).await;
    assert_eq!(status, 200);
    assert!(!server.log_text().contains("panicked"));
}

#[ignore = "needs `make models` (ONNX models and ONNX Runtime in .cache)"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_inputs_are_truncated_and_reported_or_rejected() {
    require_models();
    let long = "word ".repeat(40);
    let client = reqwest::Client::new();

    let server = Server::start("tiny", &models_dir().join("tiny"), &["--max_sequence_length=16"]);
    server.wait_ready(&client).await;
    let (status, resp) = post(&client, server.url("/v2/models/tiny/infer"), &text_body(&["short", &long])).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["parameters"], json!({"truncated": true, "truncated_inputs": "1"}));
    let (_, resp) = post(&client, server.url("/v2/models/tiny/infer"), &text_body(&["short"])).await;
    assert!(resp.get("parameters").is_none(), "{resp}");
    drop(server);

    let server =
        Server::start("tiny", &models_dir().join("tiny"), &["--max_sequence_length=16", "--truncation=reject"]);
    server.wait_ready(&client).await;
    let (status, resp) = post(&client, server.url("/v2/models/tiny/infer"), &text_body(&["short", &long])).await;
    assert_eq!(status, 400);
    let message = resp["error"].as_str().unwrap();
    assert!(message.contains("input 1") && message.contains("42 tokens") && message.contains("16"), "{message}");
}

#[ignore = "needs `make models` (ONNX models and ONNX Runtime in .cache)"]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_queue_answers_429_at_once() {
    require_models();
    let client = reqwest::Client::new();
    let server = start_overloadable(&client).await;
    let long = long_text();
    let body = text_body(&[&long, &long, &long, &long]);
    let mut tasks = Vec::new();
    for _ in 0..48 {
        let (c, url, body) = (client.clone(), server.url("/v2/models/minilm/infer"), body.clone());
        tasks.push(tokio::spawn(async move {
            let started = std::time::Instant::now();
            let (status, json) = post(&c, url, &body).await;
            (status, json, started.elapsed())
        }));
    }
    let mut ok = 0;
    let mut overloaded = 0;
    for t in tasks {
        let (status, json, elapsed) = t.await.unwrap();
        match status {
            200 => ok += 1,
            429 => {
                overloaded += 1;
                assert!(json["error"].as_str().unwrap().contains("queue"), "{json}");
                assert!(elapsed.as_millis() < 2000, "429 took {elapsed:?}");
            }
            other => panic!("unexpected status {other}: {json}"),
        }
    }
    assert!(ok >= 1 && overloaded >= 1, "ok {ok}, overloaded {overloaded}");
    let metrics = client.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains(r#"result="overloaded""#), "{metrics}");
}
