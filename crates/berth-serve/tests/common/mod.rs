//! Shared by the integration tests: finding the models and ONNX Runtime that
//! `make models` produces, and running the real `berth-serve` binary on
//! 127.0.0.1 ephemeral ports.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod fake_api;

/// Short texts of at most 16 tokens for MiniLM's tokenizer (the benches' workload).
pub const SHORT_TEXTS: [&str; 8] = [
    "A man is playing a guitar.",
    "Someone plays a guitar.",
    "The stock market fell today.",
    "Hello world",
    "I loved this movie, it was wonderful!",
    "This was the worst film I have ever seen.",
    "How do I reset my password?",
    "The train leaves at noon.",
];

/// `$BERTH_MODELS`, else the workspace's `.cache/models`.
pub fn models_dir() -> PathBuf {
    std::env::var_os("BERTH_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.cache/models"))
}

pub fn ort_library() -> PathBuf {
    std::env::var_os("ORT_DYLIB_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.cache/ort/libonnxruntime.so"))
}

/// The model tests are `#[ignore = "needs make models"]` and `make test` runs them
/// with `--ignored`; an ignored test run by hand without the models fails here with
/// what to do, never passes by returning early.
pub fn require_models() {
    let missing: Vec<String> = [models_dir().join("tiny/1/model.onnx"), ort_library()]
        .into_iter()
        .filter(|p| !p.exists())
        .map(|p| p.display().to_string())
        .collect();
    assert!(missing.is_empty(), "missing {missing:?}: run `make models` (or set BERTH_MODELS and ORT_DYLIB_PATH)");
}

pub fn reference(model: &str) -> Value {
    let path = models_dir().join("reference").join(format!("{model}.json"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// The reference's input texts.
pub fn ref_texts(reference: &Value) -> Vec<String> {
    reference["items"].as_array().unwrap().iter().map(|i| i["text"].as_str().unwrap().to_string()).collect()
}

/// One row per reference item of its `field` (`embedding`, `probabilities`...).
pub fn ref_rows(reference: &Value, field: &str) -> Vec<Vec<f64>> {
    reference["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i[field].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect())
        .collect()
}

/// Pre-tokenized body from the reference's ids, padded to the longest row.
pub fn ids_body(reference: &Value) -> Value {
    let items = reference["items"].as_array().unwrap();
    let longest = items.iter().map(|i| i["input_ids"].as_array().unwrap().len()).max().unwrap();
    let pad = |field: &str| -> Vec<i64> {
        items
            .iter()
            .flat_map(|i| {
                let mut row: Vec<i64> = i[field].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
                row.resize(longest, 0);
                row
            })
            .collect()
    };
    let shape = serde_json::json!([items.len(), longest]);
    serde_json::json!({"inputs": [
        {"name": "input_ids", "datatype": "INT64", "shape": shape, "data": pad("input_ids")},
        {"name": "attention_mask", "datatype": "INT64", "shape": shape, "data": pad("attention_mask")},
        {"name": "token_type_ids", "datatype": "INT64", "shape": shape, "data": pad("token_type_ids")},
    ]})
}

/// Copies a version directory (with its subdirectories, e.g. a SavedModel's
/// `variables/`) to `to`, atomically: the copy is made beside it and renamed,
/// like a deployment tool would.
pub fn copy_version(from: &Path, to: &Path) {
    let parent = to.parent().unwrap();
    let tmp = parent.join(format!(".tmp-{}", to.file_name().unwrap().to_string_lossy()));
    let _ = std::fs::remove_dir_all(&tmp);
    copy_tree(from, &tmp);
    std::fs::rename(&tmp, to).unwrap();
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// A running `berth-serve` process; killed when dropped.
pub struct Server {
    pub child: Child,
    pub rest: String,
    pub grpc: String,
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts the binary with `--model_name NAME --model_base_path BASE` and
    /// `extra` flags; returns once it listens (not necessarily ready).
    pub fn start(name: &str, base: &Path, extra: &[&str]) -> Server {
        Self::start_with_env(name, base, extra, &[])
    }

    /// `start` with extra environment variables for the process.
    pub fn start_with_env(name: &str, base: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let address_file = dir.path().join("addr.json");
        let log = dir.path().join("server.log");
        let child = Command::new(env!("CARGO_BIN_EXE_berth-serve"))
            .arg(format!("--model_name={name}"))
            .arg(format!("--model_base_path={}", base.display()))
            .args(["--host=127.0.0.1", "--rest_api_port=0", "--port=0"])
            .arg(format!("--address_file={}", address_file.display()))
            .arg(format!("--ort_library={}", ort_library().display()))
            .args(extra)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let addr: Value = loop {
            if let Ok(text) = std::fs::read_to_string(&address_file) {
                break serde_json::from_str(&text).unwrap();
            }
            assert!(
                Instant::now() < deadline,
                "berth-serve did not start: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        Server {
            child,
            rest: format!("http://{}", addr["rest"].as_str().unwrap()),
            grpc: format!("http://{}", addr["grpc"].as_str().unwrap()),
            log,
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.rest)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until `/v2/health/ready` says 200.
    /// POST texts as a V2 BYTES input to `path` and return the JSON answer.
    pub async fn infer_texts(&self, client: &reqwest::Client, path: &str, texts: &[&str]) -> Value {
        client.post(self.url(path)).json(&text_body(texts)).send().await.unwrap().json().await.unwrap()
    }

    pub async fn wait_ready(&self, client: &reqwest::Client) {
        self.wait_for(client, "/v2/health/ready", |status, _| status == 200).await;
    }

    /// Polls `path` until `ok(status, body)`; panics with the log after 60 s.
    pub async fn wait_for(&self, client: &reqwest::Client, path: &str, ok: impl Fn(u16, &Value) -> bool) -> Value {
        let answer = berth_testkit::poll_until(Duration::from_secs(60), || async {
            let resp = client.get(self.url(path)).send().await.ok()?;
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            ok(status, &body).then_some(body)
        })
        .await;
        answer.unwrap_or_else(|| panic!("timed out waiting on {path}; log:\n{}", self.log_text()))
    }

    /// Sends SIGTERM (the way Kubernetes stops a pod).
    pub fn terminate(&self) {
        let status = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status().unwrap();
        assert!(status.success());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one request of a [`Load`] got: (version that answered, HTTP status, error).
pub type Answer = (String, u16, String);

/// Clients sending V2 text requests back to back, e.g. across a hot swap.
pub struct Load {
    stop: Arc<AtomicBool>,
    loops: Vec<tokio::task::JoinHandle<Vec<Answer>>>,
}

impl Load {
    /// `clients` loops posting to `url` until `finish`.
    pub fn start(client: &reqwest::Client, url: String, clients: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let loops = (0..clients)
            .map(|_| {
                let (client, url, stop) = (client.clone(), url.clone(), Arc::clone(&stop));
                tokio::spawn(async move {
                    let mut seen = Vec::new();
                    let body = text_body(&["a request sent during the swap", "and a second text"]);
                    while !stop.load(Ordering::Acquire) {
                        match client.post(&url).json(&body).send().await {
                            Ok(resp) => {
                                let status = resp.status().as_u16();
                                let json: Value = resp.json().await.unwrap_or(Value::Null);
                                let version = json["model_version"].as_str().unwrap_or("").to_string();
                                seen.push((version, status, json["error"].as_str().unwrap_or("").to_string()));
                            }
                            Err(e) => seen.push((String::new(), 0, e.to_string())),
                        }
                    }
                    seen
                })
            })
            .collect();
        Load { stop, loops }
    }

    /// Stops the loops and returns every answer.
    pub async fn finish(self) -> Vec<Answer> {
        self.stop.store(true, Ordering::Release);
        let mut all = Vec::new();
        for l in self.loops {
            all.extend(l.await.unwrap());
        }
        all
    }
}

/// Asserts that no request failed, that there were more than 20, and that each
/// of `versions` answered some; returns how many each answered.
pub fn assert_all_answered(all: &[Answer], versions: &[&str]) -> Vec<usize> {
    let failures: Vec<_> = all.iter().filter(|(_, status, _)| *status != 200).collect();
    assert!(
        failures.is_empty(),
        "{} of {} requests failed: {:?}",
        failures.len(),
        all.len(),
        &failures[..failures.len().min(5)]
    );
    let counts: Vec<usize> = versions.iter().map(|v| all.iter().filter(|(got, _, _)| got == v).count()).collect();
    assert!(counts.iter().all(|&n| n > 0), "answers from versions {versions:?}: {counts:?}");
    assert!(all.len() > 20, "only {} requests", all.len());
    eprintln!("{} requests, from versions {versions:?}: {counts:?}, none failed", all.len());
    counts
}

impl Server {
    /// Waits until version `new` of `model` is AVAILABLE and `old` is gone or END.
    pub async fn wait_swapped(&self, client: &reqwest::Client, model: &str, new: &str, old: &str) {
        self.wait_for(client, &format!("/v1/models/{model}"), |_, body| {
            let list = body["model_version_status"].as_array().cloned().unwrap_or_default();
            let state = |v: &str| list.iter().find(|s| s["version"] == v).map(|s| s["state"].clone());
            state(new) == Some(serde_json::json!("AVAILABLE")) && state(old).is_none_or(|s| s == "END")
        })
        .await;
    }
}

/// POSTs `body` as JSON; returns the status and the JSON answer (null if none).
pub async fn post(client: &reqwest::Client, url: String, body: &Value) -> (u16, Value) {
    let resp = client.post(url).json(body).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// A V2 REST body with one BYTES input of `texts`.
/// `n` copies of `body` posted to `url` at once; the answers, in any order.
pub async fn burst(client: &reqwest::Client, url: String, body: &Value, n: usize) -> Vec<(u16, Value)> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (c, url, body) = (client.clone(), url.clone(), body.clone());
            tokio::spawn(async move { post(&c, url, &body).await })
        })
        .collect();
    let mut answers = Vec::with_capacity(n);
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    answers
}

pub fn text_body(texts: &[&str]) -> Value {
    serde_json::json!({
        "inputs": [{"name": "text", "datatype": "BYTES", "shape": [texts.len()], "data": texts}]
    })
}

/// Rows of a `[n, width]` FP32 output from a REST response.
pub fn rows_of(resp: &Value, output: &str) -> Vec<Vec<f64>> {
    let out = resp["outputs"].as_array().unwrap().iter().find(|o| o["name"] == output).unwrap();
    let width = out["shape"][1].as_u64().unwrap() as usize;
    let data: Vec<f64> = out["data"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    data.chunks(width).map(<[f64]>::to_vec).collect()
}

pub fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

pub fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    dot / (na * nb)
}

/// MiniLM with a one-request queue, no batching and no warm-up, so a burst
/// of long requests overflows it (the overload tests); returns once ready.
pub async fn start_overloadable(client: &reqwest::Client) -> Server {
    let server = Server::start(
        "minilm",
        &models_dir().join("minilm"),
        &["--queue_capacity=1", "--max_batch_size=1", "--max_batch_delay=0", "--warmup=false"],
    );
    server.wait_ready(client).await;
    server
}

/// A text long enough to keep a MiniLM session busy for a while.
pub fn long_text() -> String {
    "the quick brown fox jumps over the lazy dog ".repeat(14)
}

/// A counter's value in Prometheus text: the sum over series whose labels include
/// every `key="value"` given.
pub fn counter(metrics: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .filter(|l| labels.iter().all(|(k, v)| l.contains(&format!("{k}=\"{v}\""))))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
