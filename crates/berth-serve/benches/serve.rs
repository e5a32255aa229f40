//! `make bench`: berth-serve against (a) raw ONNX Runtime called in-process
//! with its best batch size (the ceiling) and (b) the KServe Python model
//! server serving the same ONNX model (when `.cache/kserve-venv` exists),
//! with one closed-loop load generator at concurrency 1, 4 and 16 on two
//! workloads: every request 128 tokens, and every request a short text of at
//! most 16 tokens. Same machine, same model (MiniLM), same thread budget,
//! one run. Prints a Markdown table and writes it to target/bench/serve.md.
//!
//! The machines this runs on share their CPUs with other tenants, so one pass can
//! be off by a third. Every point is therefore measured `BENCH_ROUNDS` times (default
//! 3), with all servers up and the rounds interleaved (round 1 of every server and
//! concurrency, then round 2, ...), and the table shows the median with the range of
//! req/s across rounds; ratios are of medians.
//!
//! For tuning runs: `BENCH_WORKLOADS=short` (or `128`) picks workloads by name,
//! `BENCH_KSERVE=0` skips KServe, and `BENCH_BERTH_ARGS` appends flags to
//! berth-serve's command line (several `;`-separated sets run one after another).
#![allow(clippy::unwrap_used, clippy::expect_used)]

// The one launcher of the real binary, shared with the integration tests.
#[path = "../tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::TensorRef;
use serde_json::{Value, json};

const CONCURRENCY: [usize; 3] = [1, 4, 16];

/// Request body for the i-th request of a workload.
type BodyOf = Arc<dyn Fn(usize) -> Value + Send + Sync>;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn seconds() -> f64 {
    std::env::var("BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(5.0)
}

fn threads() -> usize {
    std::env::var("BENCH_THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

fn rounds() -> usize {
    std::env::var("BENCH_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(3).max(1)
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

/// One berth-serve row set per `;`-separated flag set in `BENCH_BERTH_ARGS`.
fn berth_arg_sets() -> Vec<Vec<String>> {
    env_or("BENCH_BERTH_ARGS", "").split(';').map(|set| set.split_whitespace().map(String::from).collect()).collect()
}

/// A text of exactly 128 tokens for MiniLM's tokenizer (126 words + [CLS] + [SEP]).
fn long_text() -> String {
    let words = ["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog"];
    (0..126).map(|i| words[i % words.len()]).collect::<Vec<_>>().join(" ")
}

#[derive(Clone, Copy)]
struct Point {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// Raw ONNX Runtime: the best throughput in rows/s over batch sizes, on
/// pre-tokenized rows of `len` tokens (tokenization excluded: the ceiling).
fn raw_ort(env: &ort::environment::Environment, len: usize) -> (f64, usize) {
    let mut session = Session::builder(env)
        .unwrap()
        .with_optimization_level(GraphOptimizationLevel::All)
        .unwrap()
        .with_intra_threads(threads())
        .unwrap()
        .with_inter_threads(1)
        .unwrap()
        .commit_from_file(common::models_dir().join("minilm/1/model.onnx"))
        .unwrap();
    let mut best = (0.0, 1);
    for batch in [1usize, 2, 4, 8, 16, 32] {
        let ids: Vec<i64> =
            (0..batch * len).map(|i| if i % len == 0 { 101 } else { 2000 + (i % 500) as i64 }).collect();
        let mask = vec![1i64; batch * len];
        let types = vec![0i64; batch * len];
        let mut run = || {
            let inputs = ort::inputs! {
                "input_ids" => TensorRef::from_array_view(([batch, len], &ids[..])).unwrap(),
                "attention_mask" => TensorRef::from_array_view(([batch, len], &mask[..])).unwrap(),
                "token_type_ids" => TensorRef::from_array_view(([batch, len], &types[..])).unwrap(),
            };
            let out = session.run(inputs).unwrap();
            std::hint::black_box(out["last_hidden_state"].try_extract_tensor::<f32>().unwrap().1[0]);
        };
        run();
        let started = Instant::now();
        let mut rows = 0;
        while started.elapsed().as_secs_f64() < seconds() / 2.0 {
            run();
            rows += batch;
        }
        let rps = rows as f64 / started.elapsed().as_secs_f64();
        eprintln!("raw onnxruntime len {len} batch {batch}: {rps:.1} rows/s");
        if rps > best.0 {
            best = (rps, batch);
        }
    }
    best
}

/// Closed loop: `concurrency` clients each send one text per request,
/// back to back, for the bench duration.
fn closed_loop(url: &str, body_of: BodyOf, concurrency: usize) -> Point {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let client = reqwest::Client::builder().pool_max_idle_per_host(64).build().unwrap();
        // Warm the connections and the server.
        for i in 0..concurrency * 2 {
            client.post(url).json(&body_of(i)).send().await.unwrap().bytes().await.unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs_f64(seconds());
        let started = Instant::now();
        let mut tasks = Vec::new();
        for c in 0..concurrency {
            let (client, url, body_of) = (client.clone(), url.to_string(), Arc::clone(&body_of));
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut i = c;
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let resp = client.post(&url).json(&body_of(i)).send().await.unwrap();
                    assert!(resp.status().is_success(), "{}", resp.status());
                    resp.bytes().await.unwrap();
                    lat.push(t.elapsed().as_secs_f64());
                    i += concurrency;
                }
                lat
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        let elapsed = started.elapsed().as_secs_f64();
        all.sort_by(f64::total_cmp);
        let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)] * 1e3;
        Point { rps: all.len() as f64 / elapsed, p50_ms: pct(0.50), p99_ms: pct(0.99) }
    })
}

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.0.id().to_string()).status();
        let _ = self.0.wait();
    }
}

fn wait_ready(url: &str) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(120);
        let client = reqwest::Client::new();
        while Instant::now() < deadline {
            if client.get(url).send().await.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{url} never became ready");
    });
}

fn start_berth(extra: &[String]) -> (common::Server, String) {
    start_berth_on("minilm", extra)
}

/// berth-serve serving the model repository `repo` (under the models directory) as
/// the model `minilm`.
fn start_berth_on(repo: &str, extra: &[String]) -> (common::Server, String) {
    let mut args = vec!["--log-format=json".to_string(), format!("--threads={}", threads())];
    args.extend(extra.iter().cloned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server =
        common::Server::start_with_env("minilm", &common::models_dir().join(repo), &args, &[("RUST_LOG", "warn")]);
    wait_ready(&server.url("/v2/health/ready"));
    let infer = server.url("/v2/models/minilm/infer");
    (server, infer)
}

/// KServe's Python server with a custom onnxruntime model; None when the
/// venv is missing. `workers` processes with `ort_threads` threads each.
fn start_kserve(workers: usize, ort_threads: usize) -> Option<(Proc, String)> {
    let python = root().join(".cache/kserve-venv/bin/python");
    if !python.is_file() {
        return None;
    }
    let port = free_port();
    let child = Command::new(python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/kserve_minilm.py"))
        .arg(format!("--model_dir={}", common::models_dir().join("minilm/1").display()))
        .arg(format!("--http_port={port}"))
        .arg(format!("--grpc_port={}", free_port()))
        .arg(format!("--workers={workers}"))
        .arg(format!("--ort_threads={ort_threads}"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(root().join("target/bench/kserve.log")).unwrap())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&format!("{base}/v2/models/minilm/ready"));
    Some((Proc(child), format!("{base}/v2/models/minilm/infer")))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn body(text: &str) -> Value {
    json!({"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": [text]}]})
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// The rounds of one point, summarised.
struct Summary {
    rps: f64,
    rps_min: f64,
    rps_max: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn summarise(points: &[Point]) -> Summary {
    let rps: Vec<f64> = points.iter().map(|p| p.rps).collect();
    Summary {
        rps: median(rps.clone()),
        rps_min: rps.iter().copied().fold(f64::INFINITY, f64::min),
        rps_max: rps.iter().copied().fold(0.0, f64::max),
        p50_ms: median(points.iter().map(|p| p.p50_ms).collect()),
        p99_ms: median(points.iter().map(|p| p.p99_ms).collect()),
    }
}

/// A running server of either kind, stopped when dropped.
type Running = Box<dyn std::any::Any>;

/// Every server setup of one workload, started once and kept up for all rounds.
fn start_servers() -> Vec<(String, Running, String)> {
    let mut servers = Vec::new();
    if env_or("BENCH_KSERVE", "1") != "0" {
        for (label, workers, ort_threads) in [("KServe 1 worker", 1, threads()), ("KServe 2 workers x 1 thread", 2, 1)]
        {
            let Some((proc, url)) = start_kserve(workers, ort_threads) else {
                eprintln!(
                    "bench: .cache/kserve-venv missing; KServe skipped (run crates/berth-serve/benches/setup-kserve.sh)"
                );
                break;
            };
            servers.push((label.to_string(), Box::new(proc) as Running, url));
        }
    }
    for extra in berth_arg_sets() {
        let label =
            if extra.is_empty() { "berth-serve".to_string() } else { format!("berth-serve {}", extra.join(" ")) };
        let (server, url) = start_berth(&extra);
        servers.push((label, Box::new(server) as Running, url));
    }
    // The int8 build (make models-int8): what quantization buys on the same path.
    if common::models_dir().join(INT8_REPO).join("1/model.onnx").is_file() {
        let (server, url) = start_berth_on(INT8_REPO, &[]);
        servers.push((INT8_LABEL.to_string(), Box::new(server) as Running, url));
    } else {
        eprintln!("bench: no {INT8_REPO} (make models-int8): the int8 rows are skipped");
    }
    servers
}

const INT8_REPO: &str = "minilm-int8";
const INT8_LABEL: &str = "berth-serve, int8 build";

fn main() {
    std::fs::create_dir_all(root().join("target/bench")).unwrap();
    if !common::models_dir().join("minilm/1/model.onnx").is_file() {
        eprintln!("bench: no MiniLM under {} (run `make models`)", common::models_dir().display());
        std::process::exit(1);
    }
    let env = ort::init_from(common::ort_library()).unwrap().with_name("bench").build().unwrap();
    let long = long_text();
    let shorts = common::SHORT_TEXTS;
    let workloads: Vec<(&str, BodyOf, usize)> = vec![
        ("128 tokens", Arc::new(move |_| body(&long)), 128),
        ("short (<=16 tokens)", Arc::new(move |i| body(shorts[i % shorts.len()])), 12),
    ];
    let mut out = String::new();
    out.push_str(&format!(
        "MiniLM-L6 (all-MiniLM-L6-v2, ONNX), {} threads, closed loop, one text per request; each point {} s x {} \
         interleaved rounds: median, req/s range across rounds in brackets.\n\n",
        threads(),
        seconds(),
        rounds()
    ));
    out.push_str("| workload | server | concurrency | req/s | p50 ms | p99 ms | vs raw ORT | vs KServe best |\n");
    out.push_str("|---|---|---:|---:|---:|---:|---:|---:|\n");
    let only = env_or("BENCH_WORKLOADS", "");
    let mut int8_ratios = String::new();
    for (name, body_of, raw_len) in workloads.into_iter().filter(|w| w.0.contains(only.as_str())) {
        let servers = start_servers();
        let mut raw_rounds: Vec<(f64, usize)> = Vec::new();
        let mut points: Vec<Vec<Point>> = vec![Vec::new(); servers.len() * CONCURRENCY.len()];
        for round in 1..=rounds() {
            eprintln!("bench: {name}, round {round} of {}", rounds());
            raw_rounds.push(raw_ort(&env, raw_len));
            for (s, (_, _, url)) in servers.iter().enumerate() {
                for (k, &c) in CONCURRENCY.iter().enumerate() {
                    points[s * CONCURRENCY.len() + k].push(closed_loop(url, Arc::clone(&body_of), c));
                }
            }
        }
        // The median round, with the batch size that won in it.
        raw_rounds.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (raw, raw_batch) = raw_rounds[raw_rounds.len() / 2];
        let summaries: Vec<(&str, usize, Summary)> = servers
            .iter()
            .enumerate()
            .flat_map(|(s, (label, _, _))| {
                let points = &points;
                CONCURRENCY
                    .iter()
                    .enumerate()
                    .map(move |(k, &c)| (label.as_str(), c, summarise(&points[s * CONCURRENCY.len() + k])))
            })
            .collect();
        let mut kserve_best = [0.0f64; 3];
        for (label, c, p) in &summaries {
            let k = CONCURRENCY.iter().position(|x| x == c).unwrap_or(0);
            if label.starts_with("KServe") {
                kserve_best[k] = kserve_best[k].max(p.rps);
            }
        }
        for &c in &CONCURRENCY {
            let rps = |label: &str| summaries.iter().find(|(l, k, _)| *l == label && *k == c).map(|(_, _, p)| p.rps);
            if let (Some(int8), Some(fp32)) = (rps(INT8_LABEL), rps("berth-serve")) {
                int8_ratios.push_str(&format!("| {name} | {c} | {:.2} |\n", int8 / fp32));
            }
        }
        let (raw_min, raw_max) = (raw_rounds[0].0, raw_rounds[raw_rounds.len() - 1].0);
        out.push_str(&format!(
            "| {name} | raw onnxruntime (batch {raw_batch}) | - | {raw:.1} rows/s ({raw_min:.0}-{raw_max:.0}) | - | - | 1.00 | - |\n"
        ));
        for (label, c, p) in summaries {
            let k = CONCURRENCY.iter().position(|&x| x == c).unwrap_or(0);
            let vs_k = if kserve_best[k] > 0.0 { format!("{:.2}", p.rps / kserve_best[k]) } else { "n/a".into() };
            out.push_str(&format!(
                "| {name} | {label} | {c} | {:.1} ({:.0}-{:.0}) | {:.2} | {:.2} | {:.2} | {vs_k} |\n",
                p.rps,
                p.rps_min,
                p.rps_max,
                p.p50_ms,
                p.p99_ms,
                p.rps / raw
            ));
        }
    }
    if !int8_ratios.is_empty() {
        out.push_str("\nint8 build / fp32, berth-serve req/s measured in the same rounds:\n\n");
        out.push_str("| workload | concurrency | int8 / fp32 |\n|---|---:|---:|\n");
        out.push_str(&int8_ratios);
    }
    println!("\n{out}");
    let dir = root().join("target/bench");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("serve.md"), &out).unwrap();
    eprintln!("bench: table written to {}", dir.join("serve.md").display());
}
