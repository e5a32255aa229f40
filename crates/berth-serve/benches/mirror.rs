//! `make bench`: what mirroring (`steps[].mirror`) costs the clients. berth-serve in
//! controlled mode serves MiniLM as stable (1) with a canary of the same weights (2) at
//! weight 0, its BertModel on a local fake API; the status's `mirror` is switched
//! between none and 100% on the same running server, rounds interleaved. An open-loop
//! generator sends short texts at a fixed rate (latency from each request's scheduled
//! time, so a stall is not hidden by a waiting client) at half of the saturation rate
//! and at the saturation rate, which is measured first with a closed loop and no
//! mirror. Prints the client's p50/p99 with and without mirroring and their ratio, the
//! mirrored copies compared and dropped per second; writes target/bench/mirror.md.
//! Goal: p99 within 1.2x at half load; at saturation the copies are dropped, not queued.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::fake_api::{FakeApi, bertmodel, start_controlled_with};
use serde_json::{Value, json};

fn env_f64(name: &str, default: f64) -> f64 {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

fn body(i: usize) -> Value {
    json!({"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": [common::SHORT_TEXTS[i % common::SHORT_TEXTS.len()]]}]})
}

#[derive(Clone, Copy, Default)]
struct Point {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    failed: usize,
    compared_per_s: f64,
    dropped_per_s: f64,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)] * 1e3
}

/// Closed loop, `concurrency` clients back to back: the saturation rate.
async fn saturation(client: &reqwest::Client, url: &str, concurrency: usize, seconds: f64) -> f64 {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|c| {
            let (client, url) = (client.clone(), url.to_string());
            tokio::spawn(async move {
                let mut n = 0usize;
                while Instant::now() < deadline {
                    let r = client.post(&url).json(&body(c + n)).send().await.unwrap();
                    assert!(r.status().is_success(), "{}", r.status());
                    r.bytes().await.unwrap();
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    total as f64 / started.elapsed().as_secs_f64()
}

/// Open loop at `rate` req/s for `seconds`; latency counts from the scheduled send time.
async fn open_loop(client: &reqwest::Client, server: &common::Server, rate: f64, seconds: f64) -> Point {
    let url = server.url("/v2/models/m/infer");
    let before = metrics(client, server).await;
    let period = Duration::from_secs_f64(1.0 / rate);
    let n = (rate * seconds) as usize;
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let scheduled = started + period * i as u32;
        tokio::time::sleep_until(scheduled.into()).await;
        let (client, url) = (client.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let ok = match client.post(&url).json(&body(i)).send().await {
                Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                Err(_) => false,
            };
            (ok, scheduled.elapsed().as_secs_f64())
        }));
    }
    let mut latencies = Vec::with_capacity(n);
    let mut failed = 0;
    for t in tasks {
        let (ok, latency) = t.await.unwrap();
        if ok {
            latencies.push(latency);
        } else {
            failed += 1;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let after = metrics(client, server).await;
    let delta = |name: &str, labels: &[(&str, &str)]| {
        (common::counter(&after, name, labels) - common::counter(&before, name, labels)) / elapsed
    };
    latencies.sort_by(f64::total_cmp);
    Point {
        rps: latencies.len() as f64 / elapsed,
        p50_ms: percentile(&latencies, 0.50),
        p99_ms: percentile(&latencies, 0.99),
        failed,
        compared_per_s: delta("berth_serve_agreement_count", &[("version", "2")]),
        dropped_per_s: delta("berth_serve_mirrored_total", &[("version", "2"), ("result", "dropped")]),
    }
}

async fn metrics(client: &reqwest::Client, server: &common::Server) -> String {
    client.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap()
}

fn median_point(mut points: Vec<Point>) -> Point {
    let mid = points.len() / 2;
    let pick = |points: &mut Vec<Point>, key: fn(&Point) -> f64| {
        points.sort_by(|a, b| key(a).total_cmp(&key(b)));
        key(&points[mid])
    };
    Point {
        rps: pick(&mut points, |p| p.rps),
        p50_ms: pick(&mut points, |p| p.p50_ms),
        p99_ms: pick(&mut points, |p| p.p99_ms),
        failed: points.iter().map(|p| p.failed).sum(),
        compared_per_s: pick(&mut points, |p| p.compared_per_s),
        dropped_per_s: pick(&mut points, |p| p.dropped_per_s),
    }
}

fn set_mirror(api: &FakeApi, on: bool) {
    api.set_status(&[("mirror", if on { json!(100.0) } else { Value::Null })]);
}

/// The copy budgets compared (`--mirror_budget`), `BENCH_MIRROR_BUDGETS` to override.
fn budgets() -> Vec<String> {
    std::env::var("BENCH_MIRROR_BUDGETS")
        .unwrap_or_else(|_| "1,0.05,0.02".into())
        .split(',')
        .map(|b| b.trim().to_string())
        .filter(|b| !b.is_empty())
        .collect()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let minilm = common::models_dir().join("minilm/1");
    if !minilm.join("model.onnx").is_file() {
        eprintln!("bench: no MiniLM under {} (run `make models`)", common::models_dir().display());
        std::process::exit(1);
    }
    let seconds = env_f64("BENCH_SECONDS", 5.0);
    let rounds = env_f64("BENCH_ROUNDS", 3.0).max(1.0) as usize;
    let client = reqwest::Client::builder().pool_max_idle_per_host(256).build().unwrap();
    // One server per budget, all up for every round; only the one measured gets load.
    let mut servers = Vec::new();
    for budget in budgets() {
        let base = tempfile::tempdir().unwrap();
        common::copy_version(&minilm, &base.path().join("1"));
        common::copy_version(&minilm, &base.path().join("2"));
        let mut object = bertmodel();
        object["status"] = json!({"traffic": [{"version": "1", "weight": 100.0}, {"version": "2", "weight": 0.0}],
                                  "stableVersion": "1", "canaryVersion": "2"});
        let flag = format!("--mirror_budget={budget}");
        let (server, api, task) = start_controlled_with(base.path(), object, &["--log-format=json", &flag]).await;
        server.wait_for(&client, "/v2/models/m/versions/2/ready", |s, _| s == 200).await;
        servers.push((budget, server, api, task, base));
    }

    let url = servers[0].1.url("/v2/models/m/infer");
    saturation(&client, &url, 8, 1.0).await; // warm-up
    let saturated = saturation(&client, &url, 8, seconds).await;
    eprintln!("bench: saturation (closed loop, 8 clients, no mirror): {saturated:.1} req/s");
    let loads = [("half of saturation", saturated / 2.0), ("saturation", saturated)];
    // Per load: the baseline (no mirror, first server), then mirror 100% per budget.
    let per_load = 1 + servers.len();
    let mut points: Vec<Vec<Point>> = vec![Vec::new(); loads.len() * per_load];
    for round in 1..=rounds {
        for (l, (name, rate)) in loads.iter().enumerate() {
            for k in 0..per_load {
                let (budget, server, api, _, _) = &servers[k.saturating_sub(1)];
                let on = k > 0;
                set_mirror(api, on);
                tokio::time::sleep(Duration::from_millis(500)).await;
                let p = open_loop(&client, server, *rate, seconds).await;
                set_mirror(api, false);
                let label = if on { format!("100%, budget {budget}") } else { "none".into() };
                eprintln!(
                    "bench: round {round}, {name} ({rate:.0} req/s), mirror {label}: p50 {:.1} ms p99 {:.1} ms, {:.1} compared/s",
                    p.p50_ms, p.p99_ms, p.compared_per_s
                );
                points[l * per_load + k].push(p);
            }
        }
    }

    let mut out = format!(
        "Mirroring on MiniLM (all-MiniLM-L6-v2, ONNX): stable and a same-weights canary in one berth-serve, \
         open-loop short texts, each point {seconds} s x {rounds} interleaved rounds (median). Saturation: \
         {saturated:.1} req/s (closed loop, 8 clients, no mirror). Budget: `--mirror_budget`, the share of \
         wall time copies may run (1: unbounded).\n\n\
         | load | offered req/s | mirror | answered req/s | p50 ms | p99 ms | p99 vs no mirror | copies compared/s | copies dropped/s | failed |\n\
         |---|---:|---|---:|---:|---:|---:|---:|---:|---:|\n"
    );
    let mut verdicts = String::new();
    for (l, (name, rate)) in loads.iter().enumerate() {
        let off = median_point(points[l * per_load].clone());
        for k in 0..per_load {
            let p = median_point(points[l * per_load + k].clone());
            let label = if k == 0 { "none".to_string() } else { format!("100%, budget {}", servers[k - 1].0) };
            out.push_str(&format!(
                "| {name} | {rate:.0} | {label} | {:.1} | {:.1} | {:.1} | {:.2} | {:.1} | {:.1} | {} |\n",
                p.rps,
                p.p50_ms,
                p.p99_ms,
                p.p99_ms / off.p99_ms,
                p.compared_per_s,
                p.dropped_per_s,
                p.failed
            ));
            if k > 0 {
                verdicts.push_str(&format!(
                    "- {name}, budget {}: p99 with mirror / without = {:.2}, p50 {:.2}, {:.1} copies compared/s{}\n",
                    servers[k - 1].0,
                    p.p99_ms / off.p99_ms,
                    p.p50_ms / off.p50_ms,
                    p.compared_per_s,
                    if l == 0 { " (goal: p99 within 1.2x)" } else { "" }
                ));
            }
        }
    }
    out.push('\n');
    out.push_str(&verdicts);
    println!("\n{out}");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("mirror.md"), &out).unwrap();
    eprintln!("bench: table written to {}", dir.join("mirror.md").display());
}
