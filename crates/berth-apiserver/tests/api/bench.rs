//! Rough throughput numbers (ignored by default; run with
//! `cargo test -p berth-apiserver --release --test api bench -- --ignored --nocapture`).

use crate::common::*;
use crate::crd::{install_widgets, widget};
use futures::TryStreamExt;
use kube::api::{PostParams, WatchEvent, WatchParams};
use serde_json::json;
use std::time::Instant;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn bench_create_and_watch_fanout() {
    let (h, client) = server().await;
    let api = install_widgets(&client).await;
    // The same process idle (server up, CRD installed, no objects) is the baseline.
    let idle_rss = resident_kib();
    let n = 1000;
    let mut watchers = Vec::new();
    for _ in 0..10 {
        let api = api.clone();
        watchers.push(tokio::spawn(async move {
            let s = api.watch(&WatchParams::default().disable_bookmarks().timeout(60), "0").await.unwrap();
            tokio::pin!(s);
            let mut seen = 0;
            while let Some(ev) = s.try_next().await.unwrap() {
                if let WatchEvent::Added(_) = ev {
                    seen += 1;
                    if seen == n {
                        break;
                    }
                }
            }
            Instant::now()
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let start = Instant::now();
    for i in 0..n {
        api.create(&PostParams::default(), &widget(&format!("w{i}"), json!({"size": "small"}))).await.unwrap();
    }
    let created = start.elapsed();
    let mut last = start;
    for w in watchers {
        last = last.max(w.await.unwrap());
    }
    let fanout = last - start;
    println!("create: {:.0} objects/s ({n} in {created:?})", n as f64 / created.as_secs_f64());
    println!(
        "watch fan-out: {:.0} events/s delivered to 10 watchers ({} events in {fanout:?})",
        (n * 10) as f64 / fanout.as_secs_f64(),
        n * 10
    );
    let held_rss = resident_kib();
    println!(
        "memory: {} KiB resident idle, {} KiB with {n} objects and 10 watchers ({} KiB held, {:.1} KiB per object)",
        idle_rss,
        held_rss,
        held_rss.saturating_sub(idle_rss),
        held_rss.saturating_sub(idle_rss) as f64 / n as f64
    );
    h.shutdown().await.unwrap();
}

/// This process's resident set (VmRSS) in KiB: server and clients share the process.
fn resident_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|l| {
                l.strip_prefix("VmRSS:").and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            })
        })
        .unwrap_or(0)
}
