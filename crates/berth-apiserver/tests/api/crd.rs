use crate::common::*;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use kube::discovery::Discovery;
use serde_json::{Value, json};

pub fn widget_crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas", "labelSelectorPath": ".status.selector"}},
                "additionalPrinterColumns": [
                    {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
                    {"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"}
                ],
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "required": ["size"], "properties": {
                        "size": {"type": "string", "enum": ["small", "large"]},
                        "replicas": {"type": "integer", "minimum": 0, "default": 1},
                        "color": {"type": "string", "default": "blue"},
                        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2,
                            "x-kubernetes-validations": [{"rule": "self.all(t, size(t) <= 5)", "message": "tags must be at most 5 characters"}]},
                        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
                    }},
                    "status": {"type": "object", "properties": {
                        "replicas": {"type": "integer"}, "selector": {"type": "string"},
                        "conditions": {"type": "array", "items": {"type": "object", "properties": {"type": {"type": "string"}, "status": {"type": "string"}}}}
                    }}
                }}}
            }]
        }
    })
}

pub async fn install_widgets(client: &kube::Client) -> Api<DynamicObject> {
    let crds: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
            "customresourcedefinitions",
        ),
    );
    let crd: DynamicObject = serde_json::from_value(widget_crd()).unwrap();
    let created = crds.create(&PostParams::default(), &crd).await.unwrap();
    let conds = created.data["status"]["conditions"].as_array().unwrap().clone();
    assert!(conds.iter().any(|c| c["type"] == "Established" && c["status"] == "True"));
    assert!(conds.iter().any(|c| c["type"] == "NamesAccepted" && c["status"] == "True"));
    let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("example.com", "v1", "Widget"), "widgets");
    Api::namespaced_with(client.clone(), "default", &ar)
}

pub fn widget(name: &str, spec: Value) -> DynamicObject {
    serde_json::from_value(
        json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": name}, "spec": spec}),
    )
    .unwrap()
}

#[tokio::test]
async fn crd_registration_validation_defaults_and_subresources() {
    let (h, client) = server().await;
    let api = install_widgets(&client).await;
    // Discovery lists the new resource at once.
    let disc = Discovery::new(client.clone()).run().await.unwrap();
    assert!(disc.groups().any(|g| g.name() == "example.com"));

    let w = api
        .create(&PostParams::default(), &widget("w", json!({"size": "small", "junk": 1, "free": {"any": [1]}})))
        .await
        .unwrap();
    assert_eq!(w.data["spec"]["replicas"], 1, "defaults applied");
    assert_eq!(w.data["spec"]["color"], "blue");
    assert!(w.data["spec"].get("junk").is_none(), "unknown fields pruned");
    assert_eq!(w.data["spec"]["free"]["any"], json!([1]), "preserve-unknown-fields kept");

    let err = api_err(
        api.create(&PostParams::default(), &widget("bad", json!({"size": "small", "replicas": -1}))).await.unwrap_err(),
    );
    assert_eq!(err.code, 422);
    assert_eq!(err.reason, "Invalid");
    assert_eq!(
        err.message,
        "Widget.example.com \"bad\" is invalid: [spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0, .spec.replicas: Invalid value: -1: should be a non-negative integer]"
    );
    let err = api_err(
        api.create(&PostParams::default(), &widget("bad", json!({"size": "huge", "tags": ["a", "b", "c"]})))
            .await
            .unwrap_err(),
    );
    assert!(
        err.message.contains("spec.size: Unsupported value: \"huge\": supported values: \"small\", \"large\""),
        "{}",
        err.message
    );
    assert!(err.message.contains("spec.tags: Too many: 3: must have at most 2 items"), "{}", err.message);
    let err = api_err(
        api.create(&PostParams::default(), &widget("bad", json!({"size": "small", "tags": ["toolong"]})))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        err.message,
        "Widget.example.com \"bad\" is invalid: spec.tags: Invalid value: tags must be at most 5 characters"
    );
    let err = api_err(api.create(&PostParams::default(), &widget("bad", json!({}))).await.unwrap_err());
    assert!(err.message.contains("spec.size: Required value"), "{}", err.message);
    let err = api_err(
        api.patch("w", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": "x"}}))).await.unwrap_err(),
    );
    assert!(
        err.message.contains(
            "spec.replicas: Invalid value: \"string\": spec.replicas in body must be of type integer: \"string\""
        ),
        "{}",
        err.message
    );

    // Status subresource isolation for custom resources.
    let w = api.patch("w", &PatchParams::default(), &Patch::Merge(json!({"status": {"replicas": 5}}))).await.unwrap();
    assert!(w.data.get("status").is_none());
    let w = api
        .patch_status(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": "large"}, "status": {"replicas": 2, "selector": "app=w"}})),
        )
        .await
        .unwrap();
    assert_eq!(w.data["spec"]["size"], "small");
    assert_eq!(w.data["status"]["replicas"], 2);
    assert_eq!(w.metadata.generation, Some(1));

    // Scale subresource.
    let s = api.get_scale("w").await.unwrap();
    assert_eq!(s.spec.unwrap().replicas, Some(1));
    assert_eq!(s.status.as_ref().unwrap().replicas, 2);
    assert_eq!(s.status.unwrap().selector.as_deref(), Some("app=w"));
    api.patch_scale("w", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 4}}))).await.unwrap();
    let w = api.get("w").await.unwrap();
    assert_eq!(w.data["spec"]["replicas"], 4);
    assert_eq!(w.metadata.generation, Some(2));

    // Strategic merge patch is refused for custom resources, as in Kubernetes.
    let err = api_err(
        api.patch("w", &PatchParams::default(), &Patch::Strategic(json!({"spec": {"color": "red"}})))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 415);
    h.shutdown().await.unwrap();
}
