use crate::common::*;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

#[tokio::test]
async fn resource_version_increases_and_stale_update_conflicts() {
    let (h, client) = server().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let a = create_cm(&api, "a", json!({})).await;
    let b = create_cm(&api, "b", json!({})).await;
    let rv = |c: &ConfigMap| c.metadata.resource_version.clone().unwrap().parse::<u64>().unwrap();
    assert!(rv(&b) > rv(&a));
    let mut a2 = a.clone();
    a2.data = Some([("k".to_string(), "new".to_string())].into());
    let updated = api.replace("a", &PostParams::default(), &a2).await.unwrap();
    assert!(rv(&updated) > rv(&b));
    // `a2` still carries the old resourceVersion: the write must be refused.
    let err = api_err(api.replace("a", &PostParams::default(), &a2).await.unwrap_err());
    assert_eq!(err.code, 409);
    assert_eq!(err.reason, "Conflict");
    assert_eq!(
        err.message,
        "Operation cannot be fulfilled on configmaps \"a\": the object has been modified; please apply your changes to the latest version and try again"
    );
    let err = api_err(api.get("nope").await.unwrap_err());
    assert_eq!(
        (err.code, err.reason.as_str(), err.message.as_str()),
        (404, "NotFound", "configmaps \"nope\" not found")
    );
    let err = api_err(api.create(&PostParams::default(), &cm("a", json!({}))).await.unwrap_err());
    assert_eq!((err.code, err.reason.as_str()), (409, "AlreadyExists"));
    // A no-op update does not bump the version.
    let same = api.replace("a", &PostParams::default(), &updated).await.unwrap();
    assert_eq!(rv(&same), rv(&updated));
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn generation_bumps_on_spec_changes_only() {
    let (h, client) = server().await;
    let api: Api<Deployment> = Api::namespaced(client, "default");
    let d: Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "d"}},
            "template": {"metadata": {"labels": {"app": "d"}}, "spec": {"containers": [{"name": "c", "image": "x:1"}]}}}
    }))
    .unwrap();
    let d = api.create(&PostParams::default(), &d).await.unwrap();
    assert_eq!(d.metadata.generation, Some(1));
    let pp = PatchParams::default();
    let d = api.patch("d", &pp, &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}}))).await.unwrap();
    assert_eq!(d.metadata.generation, Some(1));
    let d = api.patch_status("d", &pp, &Patch::Merge(json!({"status": {"replicas": 1}}))).await.unwrap();
    assert_eq!(d.metadata.generation, Some(1));
    assert_eq!(d.status.unwrap().replicas, Some(1));
    let d = api.patch("d", &pp, &Patch::Merge(json!({"spec": {"replicas": 3}}))).await.unwrap();
    assert_eq!(d.metadata.generation, Some(2));
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn status_subresource_is_isolated() {
    let (h, client) = server().await;
    let api: Api<Deployment> = Api::namespaced(client, "default");
    let d: Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "d"}},
            "template": {"metadata": {"labels": {"app": "d"}}, "spec": {"containers": [{"name": "c", "image": "x:1"}]}}},
        "status": {"replicas": 7}
    })).unwrap();
    let d = api.create(&PostParams::default(), &d).await.unwrap();
    assert_eq!(d.status.as_ref().and_then(|s| s.replicas), None, "create resets status");
    let pp = PatchParams::default();
    // Main resource: status changes are ignored, spec changes apply.
    let d =
        api.patch("d", &pp, &Patch::Merge(json!({"spec": {"replicas": 2}, "status": {"replicas": 9}}))).await.unwrap();
    assert_eq!(d.spec.as_ref().unwrap().replicas, Some(2));
    assert_eq!(d.status.as_ref().and_then(|s| s.replicas), None);
    // Status subresource: spec changes are ignored, status changes apply.
    let d = api
        .patch_status("d", &pp, &Patch::Merge(json!({"spec": {"replicas": 5}, "status": {"replicas": 4}})))
        .await
        .unwrap();
    assert_eq!(d.spec.as_ref().unwrap().replicas, Some(2));
    assert_eq!(d.status.as_ref().and_then(|s| s.replicas), Some(4));
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn pagination_visits_every_object_once() {
    let (h, client) = server().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    for i in 0..25 {
        create_cm(&api, &format!("cm-{i:02}"), json!({})).await;
    }
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut lp = ListParams::default().limit(10);
        if let Some(t) = &token {
            lp = lp.continue_token(t);
        }
        let page = api.list(&lp).await.unwrap();
        pages += 1;
        assert!(page.items.len() <= 10);
        names.extend(page.items.iter().map(|c| c.metadata.name.clone().unwrap()));
        match page.metadata.continue_ {
            Some(t) if !t.is_empty() => token = Some(t),
            _ => break,
        }
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = (0..25).map(|i| format!("cm-{i:02}")).collect();
    assert_eq!(names, expected);
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn label_selector_operators() {
    let (h, client) = server().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    create_cm(&api, "a", json!({"app": "web", "tier": "front"})).await;
    create_cm(&api, "b", json!({"app": "db", "tier": "back"})).await;
    create_cm(&api, "c", json!({"app": "cache"})).await;
    let names = |sel: &'static str| {
        let api = api.clone();
        async move {
            let l = api.list(&ListParams::default().labels(sel)).await.unwrap();
            l.items.into_iter().map(|c| c.metadata.name.unwrap()).collect::<Vec<_>>()
        }
    };
    assert_eq!(names("app=web").await, ["a"]);
    assert_eq!(names("app==db").await, ["b"]);
    assert_eq!(names("app!=web").await, ["b", "c"]);
    assert_eq!(names("app in (web,cache)").await, ["a", "c"]);
    assert_eq!(names("app notin (web,cache)").await, ["b"]);
    assert_eq!(names("tier").await, ["a", "b"]);
    assert_eq!(names("!tier").await, ["c"]);
    assert_eq!(names("tier,app!=db").await, ["a"]);
    let err = api_err(api.list(&ListParams::default().labels("app in web")).await.unwrap_err());
    assert_eq!(err.code, 400);
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn field_selectors() {
    let (h, client) = server().await;
    let ns_api: Api<Namespace> = Api::all(client.clone());
    ns_api
        .create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": "other"}})).unwrap())
        .await
        .unwrap();
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let other: Api<ConfigMap> = Api::namespaced(client.clone(), "other");
    create_cm(&api, "a", json!({})).await;
    create_cm(&api, "b", json!({})).await;
    create_cm(&other, "a", json!({})).await;
    let all: Api<ConfigMap> = Api::all(client);
    let l = all.list(&ListParams::default().fields("metadata.name=a")).await.unwrap();
    assert_eq!(l.items.len(), 2);
    let l = all.list(&ListParams::default().fields("metadata.name=a,metadata.namespace=other")).await.unwrap();
    assert_eq!(l.items.len(), 1);
    let l = all.list(&ListParams::default().fields("metadata.namespace!=other")).await.unwrap();
    assert_eq!(l.items.len(), 2);
    let err = api_err(all.list(&ListParams::default().fields("spec.nope=1")).await.unwrap_err());
    assert_eq!(err.code, 400);
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn finalizers_hold_deletion() {
    let (h, client) = server().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let mut c = cm("f", json!({}));
    c.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    api.create(&PostParams::default(), &c).await.unwrap();
    api.delete("f", &DeleteParams::default()).await.unwrap();
    let held = api.get("f").await.unwrap();
    assert!(held.metadata.deletion_timestamp.is_some());
    // No new finalizers while deleting.
    let err = api_err(
        api.patch(
            "f",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": ["example.com/hold", "x/y"]}})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(err.code, 403);
    api.patch("f", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"finalizers": null}}))).await.unwrap();
    assert_eq!(api_err(api.get("f").await.unwrap_err()).code, 404);
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn namespace_deletion_removes_contents() {
    let (h, client) = server().await;
    let ns_api: Api<Namespace> = Api::all(client.clone());
    ns_api
        .create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": "gone"}})).unwrap())
        .await
        .unwrap();
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "gone");
    create_cm(&api, "a", json!({})).await;
    ns_api.delete("gone", &DeleteParams::default()).await.unwrap();
    let ok = eventually(std::time::Duration::from_secs(2), || {
        let ns_api = ns_api.clone();
        async move { ns_api.get_opt("gone").await.unwrap().is_none() }
    })
    .await;
    assert!(ok, "namespace should go away");
    assert_eq!(api_err(api.get("a").await.unwrap_err()).code, 404);
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn state_dir_persists_across_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = berth_apiserver::ApiServerConfig {
        bind: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        state_dir: Some(dir.path().to_path_buf()),
    };
    let h = berth_apiserver::start(cfg.clone()).await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(kube::Client::try_from(h.kube_config()).unwrap(), "default");
    let c = create_cm(&api, "kept", json!({})).await;
    h.shutdown().await.unwrap();
    let h = berth_apiserver::start(cfg).await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(kube::Client::try_from(h.kube_config()).unwrap(), "default");
    let again = api.get("kept").await.unwrap();
    assert_eq!(again.metadata.uid, c.metadata.uid);
    let next = create_cm(&api, "next", json!({})).await;
    let rv = |c: &ConfigMap| c.metadata.resource_version.clone().unwrap().parse::<u64>().unwrap();
    assert!(rv(&next) > rv(&c), "versions keep increasing after a restart");
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn delete_collection_by_selector() {
    let (h, client) = server().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    create_cm(&api, "a", json!({"x": "1"})).await;
    create_cm(&api, "b", json!({"x": "1"})).await;
    create_cm(&api, "c", json!({"x": "2"})).await;
    api.delete_collection(&DeleteParams::default(), &ListParams::default().labels("x=1")).await.unwrap();
    let left: Vec<String> =
        api.list(&ListParams::default()).await.unwrap().items.into_iter().map(|c| c.metadata.name.unwrap()).collect();
    assert_eq!(left, ["c"]);
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn events_are_shared_between_core_and_events_k8s_io() {
    use k8s_openapi::api::core::v1::Event as CoreEvent;
    use k8s_openapi::api::events::v1::Event as NewEvent;
    let (h, client) = server().await;
    let new_api: Api<NewEvent> = Api::namespaced(client.clone(), "default");
    let ev: NewEvent = serde_json::from_value(json!({
        "metadata": {"name": "e1"},
        "eventTime": "2026-01-01T00:00:00.000000Z",
        "regarding": {"kind": "BertModel", "name": "m", "namespace": "default"},
        "reason": "Promoted", "note": "version 2 promoted", "type": "Normal", "action": "Rollout",
        "reportingController": "berth.dev/operator", "reportingInstance": "op-1"
    }))
    .unwrap();
    new_api.create(&PostParams::default(), &ev).await.unwrap();
    let core: Api<CoreEvent> = Api::namespaced(client.clone(), "default");
    let got =
        core.list(&ListParams::default().fields("involvedObject.name=m,involvedObject.kind=BertModel")).await.unwrap();
    assert_eq!(got.items.len(), 1);
    assert_eq!(got.items[0].message.as_deref(), Some("version 2 promoted"));
    assert_eq!(got.items[0].reporting_component.as_deref(), Some("berth.dev/operator"));
    let patched = new_api.patch("e1", &PatchParams::default(), &Patch::Merge(json!({"note": "again"}))).await.unwrap();
    assert_eq!(patched.note.as_deref(), Some("again"));
    assert_eq!(core.get("e1").await.unwrap().message.as_deref(), Some("again"));
    let by_regarding = new_api.list(&ListParams::default().fields("regarding.name=m")).await.unwrap();
    assert_eq!(by_regarding.items.len(), 1);
    h.shutdown().await.unwrap();
}
