use berth_apiserver::{ApiServerConfig, ApiServerHandle};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::{Api, PostParams};
use serde_json::json;
use std::time::Duration;

pub async fn server() -> (ApiServerHandle, Client) {
    server_with_log(10_000).await
}

pub async fn server_with_log(cap: usize) -> (ApiServerHandle, Client) {
    let h = berth_apiserver::start_with_event_log(ApiServerConfig::default(), cap).await.unwrap();
    let client = Client::try_from(h.kube_config()).unwrap();
    (h, client)
}

pub fn cm(name: &str, labels: serde_json::Value) -> ConfigMap {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "labels": labels},
        "data": {"k": "v"}
    }))
    .unwrap()
}

pub async fn create_cm(api: &Api<ConfigMap>, name: &str, labels: serde_json::Value) -> ConfigMap {
    api.create(&PostParams::default(), &cm(name, labels)).await.unwrap()
}

pub fn api_err(e: kube::Error) -> kube::core::Status {
    match e {
        kube::Error::Api(s) => *s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// Poll until `f` yields true or `within` passes.
pub async fn eventually<F, Fut>(within: Duration, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    berth_testkit::poll_until(within, || {
        let check = f();
        async move { check.await.then_some(()) }
    })
    .await
    .is_some()
}
