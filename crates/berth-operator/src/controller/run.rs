//! Running the controllers: one per watched namespace (or one for all), each watching
//! the models, every kind in `Children` (`owns`, made from the struct's own field list
//! so a new child is watched as soon as it exists) and the serving pods.

use std::sync::Arc;

use berth_api::BertModel;
use berth_api::labels::{APP_NAME, APP_NAME_LABEL, MODEL_LABEL};
use futures::StreamExt;
use futures::future::{BoxFuture, Shared};
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::controller::Controller;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};

use crate::build::{ChildKind, Children, KindVisitor};
use crate::controller::{Context, error_policy, reconcile};

fn scoped<K>(client: &Client, scope: Option<&str>) -> Api<K>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
{
    match scope {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Adds one `owns` per child kind (a visitor of `Children::visit_kinds`).
struct Owns<'a> {
    controller: Controller<BertModel>,
    client: &'a Client,
    scope: Option<&'a str>,
}

impl KindVisitor for Owns<'_> {
    fn kind<K: ChildKind>(self) -> Self {
        let api = scoped::<K>(self.client, self.scope);
        Self { controller: self.controller.owns(api, watcher::Config::default()), ..self }
    }
}

/// The controller of one scope, before it runs.
fn controller(client: &Client, scope: Option<&str>) -> Controller<BertModel> {
    let models = Controller::new(scoped::<BertModel>(client, scope), watcher::Config::default());
    let owns = Children::visit_kinds(Owns { controller: models, client, scope });
    let pods_config = watcher::Config::default().labels(&format!("{APP_NAME_LABEL}={APP_NAME}"));
    owns.controller.watches(scoped::<Pod>(client, scope), pods_config, |pod: Pod| {
        let namespace = pod.namespace();
        pod.labels().get(MODEL_LABEL).map(|model| {
            let r = ObjectRef::<BertModel>::new(model);
            match namespace {
                Some(ns) => r.within(&ns),
                None => r,
            }
        })
    })
}

/// Run one controller per watched namespace (or one for all) until `shutdown`.
pub async fn run(ctx: Arc<Context>, namespaces: Vec<String>, shutdown: Shared<BoxFuture<'static, ()>>) {
    let scopes: Vec<Option<String>> =
        if namespaces.is_empty() { vec![None] } else { namespaces.into_iter().map(Some).collect() };
    let controllers = scopes.into_iter().map(|scope| {
        let ctx = Arc::clone(&ctx);
        let controller = controller(&ctx.client, scope.as_deref());
        let shutdown = shutdown.clone();
        async move {
            controller
                .graceful_shutdown_on(shutdown)
                .run(reconcile, error_policy, Arc::clone(&ctx))
                .for_each(|result| {
                    let metrics = Arc::clone(&ctx.metrics);
                    async move {
                        match result {
                            Ok(_) => metrics.reconciles.with_label_values(&["ok"]).inc(),
                            Err(kube::runtime::controller::Error::ReconcilerFailed(e, _)) => {
                                metrics.reconciles.with_label_values(&["error"]).inc();
                                metrics.errors.with_label_values(&[e.category()]).inc();
                            }
                            Err(e) => {
                                tracing::debug!(error = %e, "controller event");
                            }
                        }
                    }
                })
                .await;
        }
    });
    futures::future::join_all(controllers).await;
}
