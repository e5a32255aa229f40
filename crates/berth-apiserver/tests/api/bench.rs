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
    h.shutdown().await.unwrap();
}
