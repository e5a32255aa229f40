//! A minimal Kubernetes API for controlled mode: list + watch of one BertModel (the
//! wire format kube-runtime's watcher speaks) and get of ConfigMaps, written by the
//! test as the operator and a user would; the real binary talks to it through the
//! real `kube` client.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::Server;

#[derive(Clone)]
pub struct FakeApi {
    object: Arc<Mutex<Value>>,
    events: broadcast::Sender<String>,
    /// ConfigMap name -> the HTTP status and body a get answers.
    config_maps: Arc<Mutex<BTreeMap<String, (u16, Value)>>>,
    /// Gets of each ConfigMap so far.
    config_map_gets: Arc<Mutex<BTreeMap<String, usize>>>,
}

impl FakeApi {
    pub fn set_traffic(&self, traffic: Value) {
        self.set_status(&[("traffic", traffic)]);
    }

    /// Writes status fields as the operator would and sends the watch event.
    pub fn set_status(&self, fields: &[(&str, Value)]) {
        self.modify(|obj| {
            for (key, value) in fields {
                obj["status"][*key] = value.clone();
            }
        });
    }

    /// Writes a spec field as a user would and sends the watch event.
    pub fn set_spec(&self, key: &str, value: Value) {
        self.modify(|obj| obj["spec"][key] = value);
    }

    fn modify(&self, change: impl FnOnce(&mut Value)) {
        let mut obj = self.object.lock().unwrap();
        let rv = obj["metadata"]["resourceVersion"].as_str().unwrap().parse::<u64>().unwrap() + 1;
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
        change(&mut obj);
        let line = json!({"type": "MODIFIED", "object": obj.clone()}).to_string() + "\n";
        let _ = self.events.send(line);
    }

    /// A ConfigMap in namespace `ml` with `data`.
    pub fn put_config_map(&self, name: &str, data: Value) {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": name, "namespace": "ml", "resourceVersion": "1"}, "data": data});
        self.config_maps.lock().unwrap().insert(name.to_string(), (200, cm));
    }

    /// Gets of ConfigMap `name` answer `code` with a Status body (`reason` in it).
    pub fn fail_config_map(&self, name: &str, code: u16, reason: &str) {
        let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                            "message": format!("configmaps \"{name}\": {reason}"), "reason": reason, "code": code});
        self.config_maps.lock().unwrap().insert(name.to_string(), (code, status));
    }

    pub fn config_map_gets(&self, name: &str) -> usize {
        self.config_map_gets.lock().unwrap().get(name).copied().unwrap_or(0)
    }
}

pub fn bertmodel() -> Value {
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

async fn config_map(State(api): State<FakeApi>, Path(name): Path<String>) -> axum::response::Response {
    *api.config_map_gets.lock().unwrap().entry(name.clone()).or_default() += 1;
    let answer = api.config_maps.lock().unwrap().get(&name).cloned();
    let (code, body) = answer.unwrap_or_else(|| {
        (
            404,
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                     "message": format!("configmaps \"{name}\" not found"), "reason": "NotFound", "code": 404}),
        )
    });
    let code = StatusCode::from_u16(code).unwrap();
    (code, [("content-type", "application/json")], body.to_string()).into_response()
}

/// The real binary in controlled mode, watching `object` (its BertModel) on an API
/// served here; returns the server, the API (to write status as the operator would)
/// and the API's task (abort it to take the API away).
pub async fn start_controlled(base: &std::path::Path, object: Value) -> (Server, FakeApi, tokio::task::JoinHandle<()>) {
    start_controlled_with(base, object, &[]).await
}

/// [`start_controlled`] with more flags for berth-serve.
pub async fn start_controlled_with(
    base: &std::path::Path,
    object: Value,
    extra: &[&str],
) -> (Server, FakeApi, tokio::task::JoinHandle<()>) {
    let (events, _) = broadcast::channel(16);
    let api = FakeApi {
        object: Arc::new(Mutex::new(object)),
        events,
        config_maps: Arc::default(),
        config_map_gets: Arc::default(),
    };
    let app = Router::new()
        .route("/apis/berth.dev/v1alpha1/namespaces/ml/bertmodels", get(bertmodels))
        .route("/api/v1/namespaces/ml/configmaps/{name}", get(config_map))
        .with_state(api.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_addr = listener.local_addr().unwrap();
    let api_task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let kubeconfig = base.join("kubeconfig.yaml");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: http://{api_addr}\n\
             users:\n- name: pod\n  user:\n    token: t\ncontexts:\n- name: c\n  context:\n    cluster: fake\n    user: pod\n\
             current-context: c\n"
        ),
    )
    .unwrap();
    let mut args = vec!["--bertmodel_name=m", "--bertmodel_namespace=ml", "--file_system_poll_wait_seconds=0.2"];
    args.extend_from_slice(extra);
    let server = Server::start_with_env("m", base, &args, &[("KUBECONFIG", kubeconfig.to_str().unwrap())]);
    (server, api, api_task)
}
