//! The controller against the local API server (berth-apiserver, in process on
//! 127.0.0.1): children with ownerReferences, status with observedGeneration, invalid
//! specs, no-op re-applies, and garbage collection. `replicas: 0` keeps pods out of it.

// Test helpers outside #[test] fns: a failed setup should fail the test loudly.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use berth_api::BertModel;
use berth_api::conditions::find;
use berth_apiserver::{ApiServerConfig, ApiServerHandle};
use berth_operator::build::BuildConfig;
use berth_operator::controller::{self, Context, Metrics};
use berth_testkit::eventually;
use futures::FutureExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Service, ServiceAccount};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;
use tokio::sync::watch;

struct Harness {
    server: Option<ApiServerHandle>,
    client: Client,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    metrics: Arc<Metrics>,
}

/// The local API server with the BertModel CRD.
async fn api_server() -> (ApiServerHandle, Client) {
    let server = berth_apiserver::start(ApiServerConfig::default()).await.unwrap();
    let client = Client::try_from(server.kube_config()).unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &berth_api::crd::crd()).await.unwrap();
    (server, client)
}

async fn harness() -> Harness {
    let (server, client) = api_server().await;
    let metrics = Arc::new(Metrics::new().unwrap());
    let ctx = Arc::new(Context::new(
        client.clone(),
        BuildConfig { serve_image: "example.invalid/berth-serve:test".into() },
        Arc::clone(&metrics),
        Some("test".into()),
    ));
    let (stop, mut rx) = watch::channel(false);
    let shutdown = async move {
        let _ = rx.wait_for(|s| *s).await;
    }
    .boxed()
    .shared();
    let task = tokio::spawn(controller::run(ctx, vec!["default".into()], shutdown));
    Harness { server: Some(server), client, stop, task, metrics }
}

impl Harness {
    async fn stop(mut self) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(10), &mut self.task).await;
        if let Some(server) = self.server.take() {
            let _ = server.shutdown().await;
        }
    }
    fn models(&self) -> Api<BertModel> {
        Api::namespaced(self.client.clone(), "default")
    }
}

fn model(name: &str, spec: serde_json::Value) -> BertModel {
    serde_json::from_value(json!({
        "apiVersion": "berth.dev/v1alpha1", "kind": "BertModel",
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    }))
    .unwrap()
}

async fn apply(api: &Api<BertModel>, m: &BertModel) -> BertModel {
    api.patch(&m.name_any(), &PatchParams::apply("test").force(), &Patch::Apply(m)).await.unwrap()
}

async fn resource_versions(client: &Client, name: &str) -> Vec<(String, Option<String>)> {
    let ns = "default";
    let account = format!("{name}-berth-serve");
    let rv = |kind: &str, meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
        (kind.to_string(), meta.resource_version.clone())
    };
    vec![
        rv("BertModel", Api::<BertModel>::namespaced(client.clone(), ns).get(name).await.unwrap().meta()),
        rv("Deployment", Api::<Deployment>::namespaced(client.clone(), ns).get(name).await.unwrap().meta()),
        rv("Service", Api::<Service>::namespaced(client.clone(), ns).get(name).await.unwrap().meta()),
        rv("PDB", Api::<PodDisruptionBudget>::namespaced(client.clone(), ns).get(name).await.unwrap().meta()),
        rv("SA", Api::<ServiceAccount>::namespaced(client.clone(), ns).get(&account).await.unwrap().meta()),
        rv("Role", Api::<Role>::namespaced(client.clone(), ns).get(&account).await.unwrap().meta()),
        rv("RoleBinding", Api::<RoleBinding>::namespaced(client.clone(), ns).get(&account).await.unwrap().meta()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_children_writes_status_and_is_idempotent() {
    let h = harness().await;
    let api = h.models();
    let m = model("sentiment", json!({"version": "1", "source": {"uri": "file:///models/sentiment"}, "replicas": 0}));
    let created = apply(&api, &m).await;
    let uid = created.uid().unwrap();

    let status = eventually("status", Duration::from_secs(20), || async {
        api.get("sentiment").await.ok().and_then(|m| m.status).filter(|s| s.observed_generation == Some(1))
    })
    .await;
    assert_eq!(status.stable_version.as_deref(), Some("1"));
    assert_eq!(status.traffic.len(), 1);
    assert!(status.selector.as_deref().is_some_and(|s| s.contains("berth.dev/model=sentiment")));
    let ready = find(&status.conditions, "Ready").cloned().unwrap();
    assert_eq!((ready.status.as_str(), ready.observed_generation), ("True", Some(1)));

    let deployments: Api<Deployment> = Api::namespaced(h.client.clone(), "default");
    let d = deployments.get("sentiment").await.unwrap();
    let owner = &d.metadata.owner_references.clone().unwrap()[0];
    assert_eq!((owner.uid.as_str(), owner.controller), (uid.as_str(), Some(true)));
    assert_eq!(d.spec.and_then(|s| s.replicas), Some(0));
    let managers: Vec<String> =
        d.metadata.managed_fields.unwrap_or_default().into_iter().filter_map(|f| f.manager).collect();
    assert!(managers.contains(&"berth-operator".to_string()), "{managers:?}");

    // Let the controller settle, then re-apply the same manifest: nothing changes.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = resource_versions(&h.client, "sentiment").await;
    let applied = apply(&api, &m).await.resource_version();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = resource_versions(&h.client, "sentiment").await;
    // Neither the model nor its children change: the same apply is a no-op, and the
    // operator writes nothing after it.
    assert_eq!(before, after);
    assert_eq!(after[0].1, applied);
    assert!(h.metrics.render().contains("berth_operator_reconciles_total{result=\"ok\"}"));
    assert!(
        h.metrics
            .render()
            .contains(r#"berth_operator_traffic_weight{model="sentiment",namespace="default",version="1"} 100"#)
    );

    // Deleting the model collects everything it owned.
    api.delete("sentiment", &DeleteParams::default()).await.unwrap();
    eventually("garbage collection", Duration::from_secs(20), || async {
        let gone = deployments.get_opt("sentiment").await.ok()?.is_none()
            && Api::<Service>::namespaced(h.client.clone(), "default").get_opt("sentiment").await.ok()?.is_none()
            && Api::<Role>::namespaced(h.client.clone(), "default")
                .get_opt("sentiment-berth-serve")
                .await
                .ok()?
                .is_none();
        gone.then_some(())
    })
    .await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_spec_is_reported_not_retried() {
    let h = harness().await;
    let api = h.models();
    // A zero load timeout: the schema's pattern allows "0s", only validate_spec refuses it.
    let m = model(
        "broken",
        json!({"version": "1", "source": {"uri": "file:///m"}, "replicas": 0,
               "rollout": {"loadTimeout": "0s"}}),
    );
    api.create(&PostParams::default(), &m).await.unwrap();
    let status = eventually("InvalidSpec", Duration::from_secs(20), || async {
        api.get("broken").await.ok().and_then(|m| m.status).filter(|s| s.observed_generation == Some(1))
    })
    .await;
    let ready = find(&status.conditions, "Ready").cloned().unwrap();
    assert_eq!((ready.status.as_str(), ready.reason.as_str()), ("False", "InvalidSpec"));
    assert!(ready.message.contains("spec.rollout.loadTimeout"), "{}", ready.message);
    assert!(find(&status.conditions, "Stalled").is_some_and(|c| c.status == "True"));
    // Nothing was built for it.
    let deployments: Api<Deployment> = Api::namespaced(h.client.clone(), "default");
    assert!(deployments.get_opt("broken").await.unwrap().is_none());
    let events: Api<Event> = Api::namespaced(h.client.clone(), "default");
    let warning = eventually("Warning event", Duration::from_secs(10), || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        list.items.into_iter().find(|e| e.reason.as_deref() == Some("InvalidSpec"))
    })
    .await;
    assert_eq!(warning.type_.as_deref(), Some("Warning"));
    // No requeue storm: the status stays put.
    let rv = api.get("broken").await.unwrap().resource_version();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(api.get("broken").await.unwrap().resource_version(), rv);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_at_a_time_and_release_hands_over() {
    use berth_operator::ops::leader::{LeaderElector, LeaseConfig};
    let server = berth_apiserver::start(ApiServerConfig::default()).await.unwrap();
    let client = Client::try_from(server.kube_config()).unwrap();
    let elector = |identity: &str| {
        LeaderElector::new(
            client.clone(),
            LeaseConfig {
                name: "berth-operator".into(),
                namespace: "default".into(),
                identity: identity.into(),
                duration: Duration::from_secs(15),
                renew_every: Duration::from_secs(5),
            },
        )
    };
    let (a, b) = (elector("a"), elector("b"));
    assert!(a.try_acquire_or_renew().await.unwrap());
    assert!(!b.try_acquire_or_renew().await.unwrap(), "b must not take a held lease");
    assert!(a.try_acquire_or_renew().await.unwrap(), "a renews");
    a.release().await.unwrap();
    assert!(b.try_acquire_or_renew().await.unwrap(), "b takes the released lease");
    assert!(!a.try_acquire_or_renew().await.unwrap());
    let lease = Api::<k8s_openapi::api::coordination::v1::Lease>::namespaced(client.clone(), "default")
        .get("berth-operator")
        .await
        .unwrap();
    let spec = lease.spec.unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some("b"));
    assert_eq!(spec.lease_transitions, Some(1));
    server.shutdown().await.unwrap();
}

/// The status step's server-side apply, against the API server alone (no controller):
/// a field the new status no longer has disappears, and the status has its own manager.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_fields_that_disappear_are_removed() {
    use berth_api::BertModelStatus;
    use berth_operator::controller::steps::status;
    let (server, client) = api_server().await;
    let api: Api<BertModel> = Api::namespaced(client.clone(), "default");
    let m = model("s", json!({"version": "2", "source": {"uri": "file:///m"}, "replicas": 0}));
    api.create(&PostParams::default(), &m).await.unwrap();

    let canary = BertModelStatus {
        stable_version: Some("1".into()),
        canary_version: Some("2".into()),
        canary_weight: Some(5.0),
        ..BertModelStatus::default()
    };
    assert!(status::write(&api, "s", &BertModelStatus::default(), &canary).await.unwrap());
    let stored = api.get("s").await.unwrap();
    assert_eq!(stored.status.as_ref(), Some(&canary));
    let managers: Vec<(Option<String>, Option<String>)> =
        stored.metadata.managed_fields.unwrap_or_default().into_iter().map(|f| (f.manager, f.subresource)).collect();
    assert!(managers.contains(&(Some(status::FIELD_MANAGER.into()), Some("status".into()))), "{managers:?}");

    let promoted = BertModelStatus { stable_version: Some("2".into()), ..BertModelStatus::default() };
    assert!(status::write(&api, "s", &canary, &promoted).await.unwrap());
    let stored = api.get("s").await.unwrap().status.unwrap();
    assert_eq!(stored, promoted);
    assert_eq!((stored.canary_version, stored.canary_weight), (None, None));
    // Equal: nothing is written.
    let rv = api.get("s").await.unwrap().resource_version();
    assert!(!status::write(&api, "s", &promoted, &promoted).await.unwrap());
    assert_eq!(api.get("s").await.unwrap().resource_version(), rv);
    server.shutdown().await.unwrap();
}

/// After an upgrade from an operator that wrote status by merge patch, that writer
/// still co-owns the fields it set; the first write of the new one must still leave the
/// stored status equal to the computed one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_fields_an_older_writer_owns_are_removed_too() {
    use berth_api::BertModelStatus;
    use berth_operator::controller::steps::status;
    let (server, client) = api_server().await;
    let api: Api<BertModel> = Api::namespaced(client.clone(), "default");
    let m = model("u", json!({"version": "2", "source": {"uri": "file:///m"}, "replicas": 0}));
    api.create(&PostParams::default(), &m).await.unwrap();
    let by_merge = json!({"status": {"stableVersion": "1", "canaryVersion": "2", "canaryWeight": 5.0,
                                     "analysis": {"requests": 40, "errors": 0, "p99LatencySeconds": 0.1}}});
    let params = PatchParams { field_manager: Some("berth-operator-0.1".into()), ..PatchParams::default() };
    api.patch_status("u", &params, &Patch::Merge(&by_merge)).await.unwrap();
    let canary = api.get("u").await.unwrap().status.unwrap();
    assert_eq!(canary.canary_version.as_deref(), Some("2"));

    let promoted = BertModelStatus { stable_version: Some("2".into()), ..BertModelStatus::default() };
    assert!(status::write(&api, "u", &canary, &promoted).await.unwrap());
    assert_eq!(api.get("u").await.unwrap().status.unwrap(), promoted);
    server.shutdown().await.unwrap();
}
