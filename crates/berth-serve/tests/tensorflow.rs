//! TensorFlow SavedModels served by the real binary: the same weights as a
//! SavedModel and as ONNX give the same answers, a hot swap between the two
//! backends under load loses no request, and a SavedModel whose signature does
//! not fit is a load error that never takes traffic.
//!
//! Needs `make tf-models` (SavedModels under `.cache/models-tf`, the TensorFlow
//! C library under `.cache/tf/lib`) besides `make models`. The server finds the
//! library through TENSORFLOW_DIR, which these tests set from the checkout's
//! cache when it is not set already. They are ignored by a plain `cargo test`;
//! `make test` (`make model-tests`) runs them with `--ignored`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use serde_json::Value;

const TOLERANCE: f64 = 1e-4;

/// `$BERTH_MODELS_TF`, else the workspace's `.cache/models-tf`.
fn models_tf_dir() -> PathBuf {
    std::env::var_os("BERTH_MODELS_TF")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.cache/models-tf"))
}

/// `$TENSORFLOW_DIR`, else the workspace's `.cache/tf/lib` (scripts/tf/setup-tensorflow.sh).
fn tf_lib_dir() -> PathBuf {
    std::env::var_os("TENSORFLOW_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.cache/tf/lib"))
}

/// Fails with what to do when the ONNX models, the SavedModels or the TensorFlow
/// library are missing (these tests are ignored unless run with `--ignored`).
fn require_tf() {
    let missing: Vec<String> = [
        models_dir().join("tiny/1/model.onnx"),
        ort_library(),
        models_tf_dir().join("tiny/1/saved_model.pb"),
        tf_lib_dir().join("libtensorflow.so"),
    ]
    .into_iter()
    .filter(|p| !p.exists())
    .map(|p| p.display().to_string())
    .collect();
    assert!(missing.is_empty(), "missing {missing:?}: run `make models tf-models`");
}

fn start(name: &str, base: &Path, extra: &[&str]) -> Server {
    let lib = tf_lib_dir().display().to_string();
    Server::start_with_env(name, base, extra, &[("TENSORFLOW_DIR", &lib), ("TF_CPP_MIN_LOG_LEVEL", "2")])
}

fn link(target: &Path, link: &Path) {
    std::os::unix::fs::symlink(target.canonicalize().unwrap(), link).unwrap();
}

/// The output rows a version gives for the reference texts: as one batch, one
/// text per request, and pre-tokenized ids.
async fn answers(server: &Server, client: &reqwest::Client, model: &str, version: &str, output: &str) -> Vec<Vec<f64>> {
    let reference = reference(model);
    let texts = ref_texts(&reference);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let url = server.url(&format!("/v2/models/{model}/versions/{version}/infer"));
    let mut rows = Vec::new();
    let (status, resp) = post(client, url.clone(), &text_body(&refs)).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["model_version"], version);
    rows.extend(rows_of(&resp, output));
    for text in &refs {
        let (status, resp) = post(client, url.clone(), &text_body(&[text])).await;
        assert_eq!(status, 200, "{resp}");
        rows.extend(rows_of(&resp, output));
    }
    let (status, resp) = post(client, url, &ids_body(&reference)).await;
    assert_eq!(status, 200, "{resp}");
    rows.extend(rows_of(&resp, output));
    rows
}

fn max_diff(a: &[Vec<f64>], b: &[Vec<f64>]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| max_abs_diff(x, y)).fold(0.0, f64::max)
}

#[ignore = "needs `make models tf-models` (SavedModels and libtensorflow in .cache)"]
/// Version 1 is the ONNX model, version 2 the SavedModel of the same weights;
/// both answer the same requests alike and like onnxruntime's reference.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn savedmodel_and_onnx_give_the_same_outputs() {
    require_tf();
    for (model, output) in [("tiny", "embedding"), ("tiny-classifier", "probabilities"), ("minilm", "embedding")] {
        let base = tempfile::tempdir().unwrap();
        link(&models_dir().join(model).join("1"), &base.path().join("1"));
        link(&models_tf_dir().join(model).join("1"), &base.path().join("2"));
        let server = start(model, base.path(), &["--model_version_policy=all"]);
        let client = reqwest::Client::new();
        for v in ["1", "2"] {
            server.wait_for(&client, &format!("/v2/models/{model}/versions/{v}/ready"), |s, _| s == 200).await;
        }
        let onnx = answers(&server, &client, model, "1", output).await;
        let tf = answers(&server, &client, model, "2", output).await;
        let want = ref_rows(&reference(model), output);
        // answers() gives the reference rows three times over (batch, one by one, ids).
        let want: Vec<Vec<f64>> = want.iter().cycle().take(onnx.len()).cloned().collect();
        let (between, tf_ref, onnx_ref) = (max_diff(&tf, &onnx), max_diff(&tf, &want), max_diff(&onnx, &want));
        eprintln!(
            "{model}: {} rows, SavedModel vs ONNX {between:.2e}, SavedModel vs reference {tf_ref:.2e}, \
             ONNX vs reference {onnx_ref:.2e}",
            tf.len()
        );
        assert!(between < TOLERANCE, "{model}: SavedModel and ONNX differ by {between}");
        assert!(tf_ref < TOLERANCE, "{model}: SavedModel and the reference differ by {tf_ref}");
        assert!(onnx_ref < TOLERANCE, "{model}: ONNX and the reference differ by {onnx_ref}");
    }
}

#[ignore = "needs `make models tf-models` (SavedModels and libtensorflow in .cache)"]
/// SavedModel version 1 -> ONNX version 2 -> SavedModel version 3 (version 1's
/// weights again), each swap under load: no request fails, and every version
/// answers in turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hot_swap_between_savedmodel_and_onnx_loses_no_request() {
    require_tf();
    let base = tempfile::tempdir().unwrap();
    copy_version(&models_tf_dir().join("tiny/1"), &base.path().join("1"));
    let server = start("tiny", base.path(), &["--file_system_poll_wait_seconds=0.1"]);
    let client = reqwest::Client::new();
    server.wait_ready(&client).await;
    let first = server.infer_texts(&client, "/v2/models/tiny/infer", &["the same text before and after"]).await;
    assert_eq!(first["model_version"], "1", "{first}");

    let load = Load::start(&client, server.url("/v2/models/tiny/infer"), 4);
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (new, old, from) in [("2", "1", models_dir().join("tiny/2")), ("3", "2", models_tf_dir().join("tiny/1"))] {
        copy_version(&from, &base.path().join(new));
        std::fs::remove_dir_all(base.path().join(old)).unwrap();
        server.wait_swapped(&client, "tiny", new, old).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_all_answered(&load.finish().await, &["1", "2", "3"]);

    // Version 3 is version 1's SavedModel: the same answer as before the swaps.
    let last = server.infer_texts(&client, "/v2/models/tiny/infer", &["the same text before and after"]).await;
    assert_eq!(last["model_version"], "3", "{last}");
    let diff = max_abs_diff(&rows_of(&first, "embedding")[0], &rows_of(&last, "embedding")[0]);
    assert!(diff < TOLERANCE, "version 3 answers differently from version 1: {diff}");
}

/// Statuses of the versions of `model` once `versions` have all ended.
async fn ended(server: &Server, client: &reqwest::Client, model: &str, versions: &[&str]) -> Vec<Value> {
    let status = server
        .wait_for(client, &format!("/v1/models/{model}"), |_, body| {
            let list = body["model_version_status"].as_array().cloned().unwrap_or_default();
            versions.iter().all(|v| list.iter().any(|s| s["version"] == *v && s["state"] == "END"))
        })
        .await;
    status["model_version_status"].as_array().unwrap().clone()
}

fn error_of(list: &[Value], version: &str) -> String {
    let entry = list.iter().find(|s| s["version"] == version).unwrap();
    entry["status"]["error_message"].as_str().unwrap().to_string()
}

#[ignore = "needs `make models tf-models` (SavedModels and libtensorflow in .cache)"]
/// Broken SavedModel versions next to a good ONNX version 1: an unknown
/// `--signature_name`, a signature that does not fit config.json's task, and a
/// directory holding both formats. Each is a load error naming the problem,
/// and traffic stays on version 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn savedmodel_with_a_wrong_signature_never_takes_traffic() {
    require_tf();
    // An unknown signature name.
    let base = tempfile::tempdir().unwrap();
    link(&models_dir().join("tiny/1"), &base.path().join("1"));
    link(&models_tf_dir().join("tiny/1"), &base.path().join("2"));
    let server = start("tiny", base.path(), &["--model_version_policy=all", "--signature_name=no_such_signature"]);
    let client = reqwest::Client::new();
    let list = ended(&server, &client, "tiny", &["2"]).await;
    let e2 = error_of(&list, "2");
    assert!(e2.contains("no signature \"no_such_signature\"") && e2.contains("serving_default"), "{e2}");
    assert_never_served(&server, &client, &["2"]).await;
    drop(server);

    // The classifier's SavedModel (logits [-1, 2]) under an embedding config.json,
    // and a directory with both model.onnx and saved_model.pb.
    let base = tempfile::tempdir().unwrap();
    link(&models_dir().join("tiny/1"), &base.path().join("1"));
    let v2 = base.path().join(".tmp-2");
    copy_version(&models_tf_dir().join("tiny-classifier/1"), &v2);
    std::fs::remove_file(v2.join("berth-manifest.json")).unwrap();
    std::fs::copy(models_tf_dir().join("tiny/1/config.json"), v2.join("config.json")).unwrap();
    std::fs::rename(&v2, base.path().join("2")).unwrap();
    let v3 = base.path().join(".tmp-3");
    copy_version(&models_tf_dir().join("tiny/1"), &v3);
    std::fs::copy(models_dir().join("tiny/1/model.onnx"), v3.join("model.onnx")).unwrap();
    std::fs::rename(&v3, base.path().join("3")).unwrap();
    let server = start("tiny", base.path(), &["--model_version_policy=all"]);
    let list = ended(&server, &client, "tiny", &["2", "3"]).await;
    let (e2, e3) = (error_of(&list, "2"), error_of(&list, "3"));
    assert!(e2.contains("needs a float32 output of rank 3") && e2.contains("logits"), "{e2}");
    assert!(e3.contains("both model.onnx and saved_model.pb"), "{e3}");
    assert_never_served(&server, &client, &["2", "3"]).await;
}

/// Default traffic goes to version 1; the broken versions answer 503.
async fn assert_never_served(server: &Server, client: &reqwest::Client, broken: &[&str]) {
    server.wait_ready(client).await;
    for _ in 0..20 {
        let r = server.infer_texts(client, "/v2/models/tiny/infer", &["x"]).await;
        assert_eq!(r["model_version"], "1", "{r}");
    }
    for v in broken {
        let (status, body) =
            post(client, server.url(&format!("/v2/models/tiny/versions/{v}/infer")), &text_body(&["x"])).await;
        assert_eq!(status, 503, "{body}");
    }
}
