//! What a version must be. [CLS] pooling, chosen by the flag or read from
//! sentence-transformers' Pooling config in the version directory, against ONNX
//! Runtime run directly on the same tokens; an unsupported pooling mode, or a task
//! other than `--task`, is a load error and never serves. A HuggingFace Hub snapshot
//! (graph under `onnx/`, sentence-transformers' modules) serves as it is.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use ort::session::Session;
use ort::value::TensorRef;
use serde_json::Value;

const TEXTS: [&str; 3] = ["hello world", "a longer sentence with several more words in it", "x"];

/// Row 0 (the [CLS] token) of `last_hidden_state` and the mean over all tokens,
/// each text run alone so no padding is involved.
fn onnx_runtime_cls_and_mean(version_dir: &std::path::Path) -> Vec<(Vec<f64>, Vec<f64>)> {
    let env = ort::init_from(ort_library()).unwrap().with_name("pooling-test").build().unwrap();
    let mut tokenizer = tokenizers::Tokenizer::from_file(version_dir.join("tokenizer.json")).unwrap();
    // The file pads to a fixed 128 (as exported); one text alone needs no padding.
    tokenizer.with_padding(None);
    let mut session = Session::builder(&env).unwrap().commit_from_file(version_dir.join("model.onnx")).unwrap();
    let wants_types = session.inputs().iter().any(|i| i.name() == "token_type_ids");
    TEXTS
        .iter()
        .map(|text| {
            let enc = tokenizer.encode(*text, true).unwrap();
            let ids: Vec<i64> = enc.get_ids().iter().map(|&i| i64::from(i)).collect();
            let (mask, types) = (vec![1i64; ids.len()], vec![0i64; ids.len()]);
            let shape = [1, ids.len()];
            let mut inputs = ort::inputs! {
                "input_ids" => TensorRef::from_array_view((shape, &ids[..])).unwrap(),
                "attention_mask" => TensorRef::from_array_view((shape, &mask[..])).unwrap(),
            };
            if wants_types {
                inputs.push(("token_type_ids".into(), TensorRef::from_array_view((shape, &types[..])).unwrap().into()));
            }
            let out = session.run(inputs).unwrap();
            let (dims, data) = out["last_hidden_state"].try_extract_tensor::<f32>().unwrap();
            let width = usize::try_from(dims[2]).unwrap();
            let cls = data[..width].iter().map(|&v| f64::from(v)).collect();
            let tokens = data.len() / width;
            let mean = (0..width)
                .map(|w| (0..tokens).map(|t| f64::from(data[t * width + w])).sum::<f64>() / tokens as f64)
                .collect();
            (cls, mean)
        })
        .collect()
}

fn write_st_pooling(version: &std::path::Path, config: &str) {
    std::fs::write(
        version.join("modules.json"),
        r#"[{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]"#,
    )
    .unwrap();
    std::fs::create_dir_all(version.join("1_Pooling")).unwrap();
    std::fs::write(version.join("1_Pooling/config.json"), config).unwrap();
}

async fn embeddings(server: &Server, client: &reqwest::Client, version: &str) -> Vec<Vec<f64>> {
    let path = format!("/v2/models/bge/versions/{version}/infer");
    let (status, resp) = post(client, server.url(&path), &text_body(&TEXTS)).await;
    assert_eq!(status, 200, "{resp}");
    rows_of(&resp, "embedding")
}

#[ignore = "needs `make models` (ONNX models and ONNX Runtime in .cache)"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cls_pooling_from_the_directory_or_the_flag_matches_onnx_runtime() {
    require_models();
    let tiny = models_dir().join("tiny/1");
    let expected = onnx_runtime_cls_and_mean(&tiny);
    let base = tempfile::tempdir().unwrap();
    // 1: sentence-transformers says cls; 2: says max (not implemented); 3: says nothing.
    copy_version(&tiny, &base.path().join("1"));
    write_st_pooling(&base.path().join("1"), r#"{"word_embedding_dimension": 32, "pooling_mode_cls_token": true}"#);
    copy_version(&tiny, &base.path().join("2"));
    write_st_pooling(&base.path().join("2"), r#"{"pooling_mode_max_tokens": true}"#);
    copy_version(&tiny, &base.path().join("3"));
    let client = reqwest::Client::new();

    let server = Server::start("bge", base.path(), &["--model_version_policy=specific:1,2,3"]);
    server.wait_ready(&client).await;
    server.wait_for(&client, "/v2/models/bge/versions/1/ready", |s, _| s == 200).await;
    server.wait_for(&client, "/v2/models/bge/versions/3/ready", |s, _| s == 200).await;
    let status = server
        .wait_for(&client, "/v1/models/bge/versions/2", |_, v: &Value| v["model_version_status"][0]["state"] == "END")
        .await;
    let message = status["model_version_status"][0]["status"]["error_message"].as_str().unwrap().to_string();
    assert!(message.contains("pooling_mode_max_tokens"), "{message}");
    let (code, _) = post(&client, server.url("/v2/models/bge/versions/2/infer"), &text_body(&["x"])).await;
    assert_eq!(code, 503, "a version whose pooling cannot be honoured must not answer");

    for ((got_cls, got_mean), (cls, mean)) in embeddings(&server, &client, "1")
        .await
        .iter()
        .zip(embeddings(&server, &client, "3").await.iter())
        .zip(&expected)
    {
        assert!(max_abs_diff(got_cls, cls) < 1e-4, "cls differs by {}", max_abs_diff(got_cls, cls));
        assert!(max_abs_diff(got_mean, mean) < 1e-4, "mean differs by {}", max_abs_diff(got_mean, mean));
        assert!(max_abs_diff(cls, mean) > 1e-3, "the test needs cls and mean to differ");
    }
    drop(server);

    // The flag overrides the directory, both ways.
    let server = Server::start("bge", base.path(), &["--model_version_policy=specific:1,3", "--pooling=mean"]);
    server.wait_for(&client, "/v2/models/bge/versions/1/ready", |s, _| s == 200).await;
    for (got, (_, mean)) in embeddings(&server, &client, "1").await.iter().zip(&expected) {
        assert!(max_abs_diff(got, mean) < 1e-4);
    }
    drop(server);
    let server = Server::start("bge", base.path(), &["--model_version_policy=specific:3", "--pooling=cls"]);
    server.wait_for(&client, "/v2/models/bge/versions/3/ready", |s, _| s == 200).await;
    for (got, (cls, _)) in embeddings(&server, &client, "3").await.iter().zip(&expected) {
        assert!(max_abs_diff(got, cls) < 1e-4);
    }
}

#[ignore = "needs `make models` (ONNX models and ONNX Runtime in .cache)"]
/// `--task` (the BertModel's `spec.task`) is checked against what the version is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_of_another_task_than_configured_never_serves() {
    require_models();
    let client = reqwest::Client::new();
    let server = Server::start("tiny", &models_dir().join("tiny"), &["--task=classification"]);
    let status = server
        .wait_for(&client, "/v1/models/tiny", |s, v: &Value| s == 200 && v["model_version_status"][0]["state"] == "END")
        .await;
    let message = status["model_version_status"][0]["status"]["error_message"].as_str().unwrap().to_string();
    assert!(message.contains("configured as classification") && message.contains("embedding model"), "{message}");
    let (code, _) = post(&client, server.url("/v2/models/tiny/infer"), &text_body(&["x"])).await;
    assert_eq!(code, 503);
    drop(server);
    // The matching task loads as before.
    let server = Server::start("sentiment", &models_dir().join("tiny-classifier"), &["--task=classification"]);
    server.wait_ready(&client).await;
    let (code, body) = post(&client, server.url("/v2/models/sentiment/infer"), &text_body(&["good"])).await;
    assert_eq!(code, 200, "{body}");
}

#[ignore = "needs `make models` (ONNX models and ONNX Runtime in .cache)"]
/// A snapshot of a sentence-transformers repository from the HuggingFace Hub, as it
/// is: the graph under `onnx/`, `modules.json` with Pooling and Normalize, no
/// manifest. It serves the mean-pooled, L2-normalised embeddings the library gives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_snapshot_serves_as_it_is() {
    require_models();
    let minilm = models_dir().join("minilm/1");
    let base = tempfile::tempdir().unwrap();
    let version = base.path().join("1");
    std::fs::create_dir_all(version.join("onnx")).unwrap();
    std::os::unix::fs::symlink(minilm.join("model.onnx"), version.join("onnx/model.onnx")).unwrap();
    for file in ["config.json", "tokenizer.json", "vocab.txt"] {
        std::fs::copy(minilm.join(file), version.join(file)).unwrap();
    }
    std::fs::write(
        version.join("modules.json"),
        r#"[{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]"#,
    )
    .unwrap();
    std::fs::create_dir_all(version.join("1_Pooling")).unwrap();
    std::fs::write(
        version.join("1_Pooling/config.json"),
        r#"{"word_embedding_dimension": 384, "pooling_mode_cls_token": false, "pooling_mode_mean_tokens": true,
            "pooling_mode_max_tokens": false, "pooling_mode_mean_sqrt_len_tokens": false}"#,
    )
    .unwrap();

    let reference = reference("minilm");
    let texts = ref_texts(&reference);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let client = reqwest::Client::new();
    let server = Server::start("minilm", base.path(), &["--warmup=false"]);
    server.wait_ready(&client).await;
    let (status, resp) = post(&client, server.url("/v2/models/minilm/infer"), &text_body(&refs)).await;
    assert_eq!(status, 200, "{resp}");
    for (got, want) in rows_of(&resp, "embedding").iter().zip(ref_rows(&reference, "embedding")) {
        let norm = want.iter().map(|v| v * v).sum::<f64>().sqrt();
        let want: Vec<f64> = want.iter().map(|v| v / norm).collect();
        assert!(max_abs_diff(got, &want) < 1e-4, "differs by {}", max_abs_diff(got, &want));
    }
}
