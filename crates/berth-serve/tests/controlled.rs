//! Controlled mode: the real binary watches its BertModel through the real
//! `kube` client, against a minimal Kubernetes API (list + watch of one
//! resource, the wire format kube-runtime's watcher speaks) served here, and
//! converges on `status.traffic`: loads listed versions, applies weights,
//! unloads what is dropped, and keeps serving when the API goes away.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::routing::get;
use common::*;
use serde_json::{Value, json};
use tokio::sync::broadcast;

#[derive(Clone)]
struct FakeApi {
    object: Arc<Mutex<Value>>,
    events: broadcast::Sender<String>,
}

impl FakeApi {
    fn set_traffic(&self, traffic: Value) {
        self.set_status(&[("traffic", traffic)]);
    }

    /// Writes status fields as the operator would and sends the watch event.
    fn set_status(&self, fields: &[(&str, Value)]) {
        let mut obj = self.object.lock().unwrap();
        let rv = obj["metadata"]["resourceVersion"].as_str().unwrap().parse::<u64>().unwrap() + 1;
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
        for (key, value) in fields {
            obj["status"][*key] = value.clone();
        }
        let line = json!({"type": "MODIFIED", "object": obj.clone()}).to_string() + "\n";
        let _ = self.events.send(line);
    }
}

fn bertmodel() -> Value {
    json!({
        "apiVersion": "berth.dev/v1alpha1",
        "kind": "BertModel",
        "metadata": {"name": "m", "namespace": "ml", "resourceVersion": "1", "uid": "u-1", "generation": 1},
        "spec": {"version": "1", "source": {"uri": "file:///models/m"}},
        "status": {"traffic": [{"version": "1", "weight": 100.0}]}
    })
}

async fn bertmodels(State(api): State<FakeApi>, Query(q): Query<Vec<(String, String)>>) -> axum::response::Response {
    let is_watch = q.iter().any(|(k, v)| k == "watch" && v == "true");
    let selector_ok = q.iter().any(|(k, v)| k == "fieldSelector" && v == "metadata.name=m");
    assert!(selector_ok, "the server must watch only its own BertModel: {q:?}");
    if !is_watch {
        let obj = api.object.lock().unwrap().clone();
        let rv = obj["metadata"]["resourceVersion"].clone();
        let list = json!({"apiVersion": "berth.dev/v1alpha1", "kind": "BertModelList", "metadata": {"resourceVersion": rv}, "items": [obj]});
        return axum::response::Response::new(Body::from(list.to_string()));
    }
    let rx = api.events.subscribe();
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        match rx.recv().await {
            Ok(line) => Some((Ok::<_, std::io::Error>(line), rx)),
            Err(_) => None,
        }
    });
    axum::response::Response::new(Body::from_stream(stream))
}

async fn get_json(client: &reqwest::Client, url: String) -> Value {
    client.get(url).send().await.unwrap().json().await.unwrap()
}

async fn versions_answering(client: &reqwest::Client, server: &Server, n: usize) -> (usize, usize) {
    let (mut one, mut two) = (0, 0);
    for _ in 0..n {
        let r: Value = server.infer_texts(client, "/v2/models/m/infer", &["hi"]).await;
        match r["model_version"].as_str() {
            Some("1") => one += 1,
            Some("2") => two += 1,
            _ => panic!("failed request: {r}"),
        }
    }
    (one, two)
}

fn state_of(status: &Value, v: &str) -> Option<String> {
    status["model_version_status"]
        .as_array()?
        .iter()
        .find(|s| s["version"] == v)
        .map(|s| s["state"].as_str().unwrap().to_string())
}

#[ignore = "needs `make models` (ONNX models and ONNX Runtime in .cache)"]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn converges_on_status_traffic_and_survives_the_api_going_away() {
    require_models();
    let base = tempfile::tempdir().unwrap();
    copy_version(&models_dir().join("tiny/1"), &base.path().join("1"));
    copy_version(&models_dir().join("tiny/2"), &base.path().join("2"));

    let (events, _) = broadcast::channel(16);
    let api = FakeApi { object: Arc::new(Mutex::new(bertmodel())), events };
    let app = Router::new()
        .route("/apis/berth.dev/v1alpha1/namespaces/ml/bertmodels", get(bertmodels))
        .with_state(api.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_addr = listener.local_addr().unwrap();
    let api_task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let kubeconfig = base.path().join("kubeconfig.yaml");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: http://{api_addr}\n\
             users:\n- name: pod\n  user:\n    token: t\ncontexts:\n- name: c\n  context:\n    cluster: fake\n    user: pod\n\
             current-context: c\n"
        ),
    )
    .unwrap();
    let server = Server::start_with_env(
        "m",
        base.path(),
        &["--bertmodel_name=m", "--bertmodel_namespace=ml", "--file_system_poll_wait_seconds=0.2"],
        &[("KUBECONFIG", kubeconfig.to_str().unwrap())],
    );
    let client = reqwest::Client::new();
    server.wait_ready(&client).await;
    let status = get_json(&client, server.url("/v1/models/m")).await;
    assert_eq!(state_of(&status, "1").as_deref(), Some("AVAILABLE"));
    assert_eq!(state_of(&status, "2"), None, "version 2 is on disk but not in status.traffic: {status}");

    // The canary appears with weight 0: loaded and warmed, but no default traffic.
    api.set_status(&[
        ("traffic", json!([{"version": "1", "weight": 100.0}, {"version": "2", "weight": 0.0}])),
        ("stableVersion", json!("1")),
        ("canaryVersion", json!("2")),
    ]);
    server.wait_for(&client, "/v2/models/m/versions/2/ready", |s, _| s == 200).await;
    assert_eq!(versions_answering(&client, &server, 30).await, (30, 0));
    // TF Serving's version labels follow the operator's stable and canary.
    for (label, version) in [("stable", "1"), ("canary", "2")] {
        let resp = client
            .post(server.url(&format!("/v1/models/m/labels/{label}:predict")))
            .json(&json!({"instances": ["hi"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        assert_eq!(resp.json::<Value>().await.unwrap()["model_version"], version, "{label}");
    }

    // A 50/50 split is per request.
    api.set_traffic(json!([{"version": "1", "weight": 50.0}, {"version": "2", "weight": 50.0}]));
    server
        .wait_for(&client, "/v1/models/m", |_, b| {
            b["model_version_status"].as_array().is_some_and(|l| l.iter().all(|s| s["traffic"] == 50.0))
        })
        .await;
    let (one, two) = versions_answering(&client, &server, 300).await;
    assert!(one > 100 && two > 100, "50/50 split gave {one}/{two}");

    // Promotion: version 1 leaves the table and is unloaded.
    api.set_traffic(json!([{"version": "2", "weight": 100.0}]));
    server.wait_for(&client, "/v1/models/m", |_, b| state_of(b, "1").as_deref() == Some("END")).await;
    assert_eq!(versions_answering(&client, &server, 20).await, (0, 20));

    // The API server goes away: the last state keeps serving.
    api_task.abort();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(versions_answering(&client, &server, 20).await, (0, 20));
    assert_eq!(client.get(server.url("/v2/health/ready")).send().await.unwrap().status().as_u16(), 200);
}
