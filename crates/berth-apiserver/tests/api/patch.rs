use crate::common::*;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

fn deployment() -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "d"}},
            "template": {"metadata": {"labels": {"app": "d"}}, "spec": {"containers": [
                {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]},
                {"name": "b", "image": "b:1"}]}}}
    }))
    .unwrap()
}

#[tokio::test]
async fn json_and_merge_patch() {
    let (h, client) = server().await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    create_cm(&api, "c", json!({"a": "1"})).await;
    let pp = PatchParams::default();
    let path = "/api/v1/namespaces/default/configmaps/c";
    let c = json_patch(
        &client,
        path,
        json!([
            {"op": "add", "path": "/data/j", "value": "x"},
            {"op": "replace", "path": "/metadata/labels/a", "value": "2"},
            {"op": "test", "path": "/data/k", "value": "v"}
        ]),
    )
    .await
    .unwrap();
    assert_eq!(c["data"]["j"], "x");
    assert_eq!(c["metadata"]["labels"]["a"], "2");
    let bad = json!([{"op": "replace", "path": "/data/missing", "value": "x"}]);
    let err = api_err(json_patch(&client, path, bad).await.unwrap_err());
    assert_eq!(err.code, 422);
    let c = api.patch("c", &pp, &Patch::Merge(json!({"data": {"j": null, "m": "y"}}))).await.unwrap();
    let data = c.data.unwrap();
    assert!(!data.contains_key("j"));
    assert_eq!(data["m"], "y");
    // A merge patch naming a stale resourceVersion is a precondition failure.
    let err = api_err(
        api.patch("c", &pp, &Patch::Merge(json!({"metadata": {"resourceVersion": "1"}, "data": {"z": "1"}})))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 409);
    h.shutdown().await.unwrap();
}

/// Send a JSON patch (kube's typed JSON patch needs the `jsonpatch` feature).
async fn json_patch(client: &kube::Client, path: &str, ops: Value) -> Result<Value, kube::Error> {
    let req = http::Request::patch(path)
        .header("Content-Type", "application/json-patch+json")
        .body(serde_json::to_vec(&ops).unwrap())
        .unwrap();
    client.request::<Value>(req).await
}

#[tokio::test]
async fn strategic_merge_by_key() {
    let (h, client) = server().await;
    let api: Api<Deployment> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &deployment()).await.unwrap();
    let pp = PatchParams::default();
    let patch = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "a", "image": "a:2", "env": [{"name": "Y", "value": "3"}, {"name": "Z", "value": "4"}]},
        {"name": "c", "image": "c:1"},
        {"name": "b", "$patch": "delete"}]}}}});
    let d = api.patch("d", &pp, &Patch::Strategic(patch)).await.unwrap();
    let v: Value = serde_json::to_value(&d).unwrap();
    let cs = v.pointer("/spec/template/spec/containers").unwrap().as_array().unwrap();
    let names: Vec<&str> = cs.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["a", "c"]);
    assert_eq!(cs[0]["image"], "a:2");
    let env: Vec<(String, String)> = cs[0]["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap().into(), e["value"].as_str().unwrap().into()))
        .collect();
    assert_eq!(env, [("X".into(), "1".into()), ("Y".into(), "3".into()), ("Z".into(), "4".into())]);
    h.shutdown().await.unwrap();
}

fn managers(c: &ConfigMap) -> Vec<(String, String)> {
    c.metadata
        .managed_fields
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|m| (m.manager.unwrap_or_default(), m.operation.unwrap_or_default()))
        .collect()
}

#[tokio::test]
async fn server_side_apply() {
    let (h, client) = server().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let cfg = |data: Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "s"}, "data": data});
    // Apply creates the object and records the manager.
    let c =
        api.patch("s", &PatchParams::apply("alice"), &Patch::Apply(cfg(json!({"a": "1", "b": "2"})))).await.unwrap();
    assert_eq!(c.data.as_ref().unwrap().len(), 2);
    assert_eq!(managers(&c), [("alice".to_string(), "Apply".to_string())]);
    let fields = serde_json::to_value(&c.metadata.managed_fields.as_ref().unwrap()[0].fields_v1).unwrap();
    assert_eq!(fields, json!({"f:data": {"f:a": {}, "f:b": {}}}));
    // Fields alice stops applying are removed.
    let c = api.patch("s", &PatchParams::apply("alice"), &Patch::Apply(cfg(json!({"a": "1"})))).await.unwrap();
    assert_eq!(c.data.as_ref().unwrap().keys().collect::<Vec<_>>(), ["a"]);
    // Bob changing alice's field conflicts...
    let err =
        api_err(api.patch("s", &PatchParams::apply("bob"), &Patch::Apply(cfg(json!({"a": "9"})))).await.unwrap_err());
    assert_eq!(err.code, 409);
    // Worded as kube-apiserver 1.36 words it (an Apply manager has no "using v1").
    assert_eq!(err.message, "Apply failed with 1 conflict: conflict with \"alice\": .data.a");
    // ...but the same value is shared ownership, and force takes it over.
    let c = api.patch("s", &PatchParams::apply("bob"), &Patch::Apply(cfg(json!({"a": "1", "c": "3"})))).await.unwrap();
    assert_eq!(c.data.as_ref().unwrap()["c"], "3");
    let c = api.patch("s", &PatchParams::apply("bob").force(), &Patch::Apply(cfg(json!({"a": "9"})))).await.unwrap();
    assert_eq!(c.data.as_ref().unwrap()["a"], "9");
    // bob dropped c (only bob owned it); alice no longer owns a.
    assert!(!c.data.as_ref().unwrap().contains_key("c"));
    assert!(managers(&c).iter().all(|(m, _)| m == "bob"), "{:?}", managers(&c));
    // An update by another manager records an Update entry.
    let c = api
        .patch(
            "s",
            &PatchParams { field_manager: Some("carol".into()), ..Default::default() },
            &Patch::Merge(json!({"data": {"d": "4"}})),
        )
        .await
        .unwrap();
    assert!(managers(&c).contains(&("carol".to_string(), "Update".to_string())));
    // Re-applying bob's unchanged configuration is a no-op: no new resourceVersion, even
    // though another manager's entry now follows bob's.
    let again =
        api.patch("s", &PatchParams::apply("bob").force(), &Patch::Apply(cfg(json!({"a": "9"})))).await.unwrap();
    assert_eq!(again.metadata.resource_version, c.metadata.resource_version);
    h.shutdown().await.unwrap();
}
