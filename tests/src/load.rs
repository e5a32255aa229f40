//! A closed-loop load generator: a few workers send real V2 inference requests to the
//! model's Service (its ClusterIP: kube-proxy on a cluster, berth-local's service
//! proxy locally), a new connection each, so every request is balanced over the ready
//! endpoints as a client's would be, for as long as the test runs. Every answer is
//! counted by the version that gave it; every failure is kept with the time it
//! happened, so a test can tell failures a broken canary caused while it was judged
//! from failures after the rollback (there must be none of those).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Service;
use kube::Api;
use serde_json::json;

use crate::harness::Harness;

/// berth-serve's REST port, the Service's `http` port.
const HTTP_PORT: u16 = 8501;

#[derive(Default)]
struct Record {
    by_version: BTreeMap<String, u64>,
    failures: Vec<(Instant, String)>,
}

pub struct Load {
    running: Arc<AtomicBool>,
    record: Arc<Mutex<Record>>,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    /// Starts `workers` senders once the model's Service has its ClusterIP.
    pub async fn start(h: &Harness, workers: usize) -> Load {
        let address = format!("{}:{HTTP_PORT}", cluster_ip(h).await);
        let url = format!("http://{address}/v2/models/{}/infer", h.name);
        let waited = first_answer(h, &url).await;
        eprintln!("load: {workers} workers on Service {} at {address} (first answer after {waited:.1}s)", h.name);
        let running = Arc::new(AtomicBool::new(true));
        let record = Arc::new(Mutex::new(Record::default()));
        let handles =
            (0..workers).map(|_| tokio::spawn(send(url.clone(), Arc::clone(&running), Arc::clone(&record)))).collect();
        Load { running, record, workers: handles }
    }

    /// Answers so far by version, failures under "failed".
    pub fn answers(&self) -> BTreeMap<String, u64> {
        let r = self.record.lock().unwrap();
        let mut out = r.by_version.clone();
        if !r.failures.is_empty() {
            out.insert("failed".into(), r.failures.len() as u64);
        }
        out
    }

    pub fn failures(&self) -> usize {
        self.record.lock().unwrap().failures.len()
    }

    pub fn failures_since(&self, t: Instant) -> Vec<String> {
        self.record.lock().unwrap().failures.iter().filter(|(at, _)| *at >= t).map(|(_, f)| f.clone()).collect()
    }

    pub fn first_failure_since(&self, t: Instant) -> Option<Instant> {
        self.record.lock().unwrap().failures.iter().map(|(at, _)| *at).find(|at| *at >= t)
    }

    pub async fn stop(mut self) -> BTreeMap<String, u64> {
        self.running.store(false, Ordering::Release);
        for w in std::mem::take(&mut self.workers) {
            let _ = w.await;
        }
        self.answers()
    }
}

/// The ClusterIP of the Service the operator made for the model (same name).
async fn cluster_ip(h: &Harness) -> String {
    let services: Api<Service> = Api::namespaced(h.client.clone(), &h.namespace);
    let start = Instant::now();
    loop {
        let ip = services.get_opt(&h.name).await.ok().flatten().and_then(|s| s.spec?.cluster_ip);
        if let Some(ip) = ip.filter(|ip| !ip.is_empty() && ip != "None") {
            return ip;
        }
        assert!(start.elapsed() < h.within(Duration::from_secs(30)), "the Service {} has no ClusterIP", h.name);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the Service answers, in seconds. A model is Ready once its pods are, but
/// each node's kube-proxy programs the Service's endpoints a moment later (its sync
/// period): until then a real cluster refuses connections to the ClusterIP, as it
/// would for any client. berth-local's proxy follows the endpoints the same way.
async fn first_answer(h: &Harness, url: &str) -> f64 {
    let http = reqwest::Client::new();
    let start = Instant::now();
    loop {
        let last = match http.post(url).json(&request_body()).timeout(Duration::from_secs(5)).send().await {
            Ok(r) if r.status().is_success() => return start.elapsed().as_secs_f64(),
            Ok(r) => format!("HTTP {}", r.status()),
            Err(e) => e.to_string(),
        };
        assert!(
            start.elapsed() < h.within(Duration::from_secs(30)),
            "the Service of {} never answered: {last}",
            h.name
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Ordinary words: their token ids are above 1000 (see scripts/build_fault_models.py).
fn request_body() -> serde_json::Value {
    json!({"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["a fine day"]}]})
}

async fn send(url: String, running: Arc<AtomicBool>, record: Arc<Mutex<Record>>) {
    // No connection reuse: each request is balanced over the endpoints afresh.
    let http = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let body = request_body();
    while running.load(Ordering::Acquire) {
        let answer = http.post(&url).json(&body).timeout(Duration::from_secs(5)).send().await;
        let outcome = match answer {
            Ok(r) if r.status().is_success() => r
                .json::<serde_json::Value>()
                .await
                .ok()
                .and_then(|v| v["model_version"].as_str().map(str::to_string))
                .ok_or_else(|| "200 without a model_version".to_string()),
            Ok(r) => {
                let code = r.status().as_u16();
                Err(format!("{code} {}", r.text().await.unwrap_or_default()))
            }
            Err(e) => Err(e.to_string()),
        };
        {
            let mut r = record.lock().unwrap();
            match outcome {
                Ok(version) => *r.by_version.entry(version).or_default() += 1,
                Err(failure) => r.failures.push((Instant::now(), failure)),
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
