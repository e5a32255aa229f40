use crate::common::*;
use crate::crd::{install_widgets, widget};
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Ctx {
    client: kube::Client,
}

/// Keep a ConfigMap `<name>-child` holding the widget's size, owned by it.
async fn reconcile(w: Arc<DynamicObject>, ctx: Arc<Ctx>) -> Result<Action, kube::Error> {
    let ns = w.namespace().unwrap_or_default();
    let cms: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ns);
    let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("example.com", "v1", "Widget"), "widgets");
    let owner = w.controller_owner_ref(&ar).unwrap();
    let size = w.data["spec"]["size"].as_str().unwrap_or_default().to_string();
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": format!("{}-child", w.name_any()), "ownerReferences": [owner]},
        "data": {"size": size}});
    cms.patch(&format!("{}-child", w.name_any()), &PatchParams::apply("widget-controller").force(), &Patch::Apply(cm))
        .await?;
    Ok(Action::await_change())
}

fn error_policy(_: Arc<DynamicObject>, _: &kube::Error, _: Arc<Ctx>) -> Action {
    Action::requeue(Duration::from_millis(100))
}

async fn within_a_second<F, Fut>(what: &str, f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    assert!(eventually(Duration::from_secs(1), f).await, "{what} did not converge within a second");
    eprintln!("{what}: converged in {:?}", start.elapsed());
}

#[tokio::test]
async fn controller_converges_within_a_second() {
    let (h, client) = server().await;
    let widgets = install_widgets(&client).await;
    let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("example.com", "v1", "Widget"), "widgets");
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let ctx = Arc::new(Ctx { client: client.clone() });
    let controller = Controller::new_with(widgets.clone(), watcher::Config::default(), ar)
        .owns(cms.clone(), watcher::Config::default())
        .run(reconcile, error_policy, ctx)
        .for_each(|_| async {});
    let task = tokio::spawn(controller);

    widgets.create(&PostParams::default(), &widget("w1", json!({"size": "small"}))).await.unwrap();
    let size_is = |want: &'static str| {
        let cms = cms.clone();
        move || {
            let cms = cms.clone();
            async move {
                cms.get_opt("w1-child")
                    .await
                    .unwrap()
                    .and_then(|c| c.data)
                    .is_some_and(|d| d.get("size").map(String::as_str) == Some(want))
            }
        }
    };
    within_a_second("create", size_is("small")).await;
    widgets.patch("w1", &PatchParams::default(), &Patch::Merge(json!({"spec": {"size": "large"}}))).await.unwrap();
    within_a_second("spec change", size_is("large")).await;
    cms.delete("w1-child", &DeleteParams::default()).await.unwrap();
    within_a_second("owned object deletion", size_is("large")).await;
    widgets.delete("w1", &DeleteParams::default()).await.unwrap();
    within_a_second("delete", || {
        let cms = cms.clone();
        async move { cms.get_opt("w1-child").await.unwrap().is_none() }
    })
    .await;
    task.abort();
    let _ = ConfigMap::kind(&());
    h.shutdown().await.unwrap();
}
