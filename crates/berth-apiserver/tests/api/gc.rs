use crate::common::*;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;
use std::time::Duration;

async fn owner_and_dependent(api: &Api<ConfigMap>, hold_dependent: bool) -> (ConfigMap, ConfigMap) {
    let owner = create_cm(api, "owner", json!({})).await;
    let mut dep = cm("dep", json!({}));
    dep.metadata.owner_references = Some(vec![k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        name: "owner".into(),
        uid: owner.metadata.uid.clone().unwrap(),
        block_owner_deletion: Some(true),
        ..Default::default()
    }]);
    if hold_dependent {
        dep.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    }
    let dep = api.create(&PostParams::default(), &dep).await.unwrap();
    (owner, dep)
}

async fn gone(api: &Api<ConfigMap>, name: &str) -> bool {
    let api = api.clone();
    let name = name.to_string();
    eventually(Duration::from_secs(2), move || {
        let api = api.clone();
        let name = name.clone();
        async move { api.get_opt(&name).await.unwrap().is_none() }
    })
    .await
}

#[tokio::test]
async fn background_deletes_dependents_after_owner() {
    let (h, client) = server().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    owner_and_dependent(&api, false).await;
    api.delete("owner", &DeleteParams::background()).await.unwrap();
    assert!(api.get_opt("owner").await.unwrap().is_none(), "owner goes at once");
    assert!(gone(&api, "dep").await, "dependent is collected");
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn foreground_waits_for_dependents() {
    let (h, client) = server().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    owner_and_dependent(&api, true).await;
    api.delete("owner", &DeleteParams::foreground()).await.unwrap();
    let owner = api.get("owner").await.unwrap();
    assert!(owner.metadata.deletion_timestamp.is_some());
    assert!(owner.metadata.finalizers.unwrap().contains(&"foregroundDeletion".to_string()));
    // The dependent is being deleted but its own finalizer holds it, and so the owner.
    let ok = eventually(Duration::from_secs(2), || {
        let api = api.clone();
        async move { api.get("dep").await.unwrap().metadata.deletion_timestamp.is_some() }
    })
    .await;
    assert!(ok);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(api.get_opt("owner").await.unwrap().is_some());
    api.patch("dep", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"finalizers": null}}))).await.unwrap();
    assert!(gone(&api, "dep").await);
    assert!(gone(&api, "owner").await, "owner goes after its dependents");
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn orphan_removes_owner_references() {
    let (h, client) = server().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    owner_and_dependent(&api, false).await;
    api.delete("owner", &DeleteParams::orphan()).await.unwrap();
    assert!(gone(&api, "owner").await);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let dep = api.get("dep").await.unwrap();
    assert!(dep.metadata.owner_references.unwrap_or_default().is_empty());
    h.shutdown().await.unwrap();
}
