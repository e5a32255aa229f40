//! A closed-loop load generator: a few workers send real V2 inference requests to the
//! ready serving pods in turn, as a Service would, for as long as the test runs.
//! Every answer is counted by the version that gave it; every failure is kept with
//! the time it happened, so a test can tell failures a broken canary caused while
//! it was judged from failures after the rollback (there must be none of those).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::ListParams;
use serde_json::json;

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
    pub fn start(client: kube::Client, model: &str, workers: usize) -> Load {
        let running = Arc::new(AtomicBool::new(true));
        let record = Arc::new(Mutex::new(Record::default()));
        let ips = Arc::new(Mutex::new(Vec::<String>::new()));
        let mut handles =
            vec![tokio::spawn(follow_ready_pods(client, model.to_string(), Arc::clone(&running), Arc::clone(&ips)))];
        for w in 0..workers {
            handles.push(tokio::spawn(send(
                model.to_string(),
                w,
                Arc::clone(&running),
                Arc::clone(&ips),
                Arc::clone(&record),
            )));
        }
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

/// Keeps the list of ready pod IPs current, the way endpoints follow readiness.
async fn follow_ready_pods(
    client: kube::Client,
    model: String,
    running: Arc<AtomicBool>,
    ips: Arc<Mutex<Vec<String>>>,
) {
    let pods: Api<Pod> = Api::namespaced(client, "default");
    while running.load(Ordering::Acquire) {
        if let Ok(list) = pods.list(&ListParams::default().labels(&format!("berth.dev/model={model}"))).await {
            let ready: Vec<String> = list
                .items
                .iter()
                .filter(|p| p.metadata.deletion_timestamp.is_none())
                .filter(|p| {
                    p.status
                        .as_ref()
                        .and_then(|s| s.conditions.as_ref())
                        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
                })
                .filter_map(|p| p.status.as_ref().and_then(|s| s.pod_ip.clone()))
                .collect();
            *ips.lock().unwrap() = ready;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn send(
    model: String,
    worker: usize,
    running: Arc<AtomicBool>,
    ips: Arc<Mutex<Vec<String>>>,
    record: Arc<Mutex<Record>>,
) {
    let http = reqwest::Client::new();
    // Ordinary words: their token ids are above 1000 (see scripts/build_fault_models.py).
    let body = json!({"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["a fine day"]}]});
    let mut i = worker;
    while running.load(Ordering::Acquire) {
        i += 1;
        let ip = {
            let ips = ips.lock().unwrap();
            if ips.is_empty() { None } else { Some(ips[i % ips.len()].clone()) }
        };
        let Some(ip) = ip else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let answer = http
            .post(format!("http://{ip}:8501/v2/models/{model}/infer"))
            .json(&body)
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        let outcome = match answer {
            Ok(r) if r.status().is_success() => r
                .json::<serde_json::Value>()
                .await
                .ok()
                .and_then(|v| v["model_version"].as_str().map(str::to_string))
                .ok_or_else(|| format!("{ip}: 200 without a model_version")),
            Ok(r) => {
                let code = r.status().as_u16();
                Err(format!("{ip}: {code} {}", r.text().await.unwrap_or_default()))
            }
            Err(e) => Err(format!("{ip}: {e}")),
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
