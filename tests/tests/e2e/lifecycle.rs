//! A model's life outside rollbacks: re-apply, pause, a lost pod, scale-up, delete.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use berth_api::Phase;
use berth_api::conditions::is_true;
use berth_e2e::scenario::rollout;
use berth_e2e::{Harness, Load, models_dir};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{DeleteParams, ListParams};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};

/// resourceVersion of the model and of every object it owns, by kind/name.
async fn versions_of_everything(h: &Harness) -> BTreeMap<String, String> {
    let model = h.api.get(&h.name).await.unwrap();
    let uid = model.uid().unwrap();
    let mut out = BTreeMap::from([(format!("BertModel/{}", h.name), model.resource_version().unwrap())]);
    async fn owned<K>(h: &Harness, uid: &str, out: &mut BTreeMap<String, String>)
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        let api: Api<K> = Api::namespaced(h.client.clone(), &h.namespace);
        for o in api.list(&ListParams::default()).await.unwrap() {
            if o.owner_references().iter().any(|r| r.uid == uid) {
                out.insert(format!("{}/{}", K::kind(&()), o.name_any()), o.resource_version().unwrap_or_default());
            }
        }
    }
    owned::<Deployment>(h, &uid, &mut out).await;
    owned::<Service>(h, &uid, &mut out).await;
    owned::<ServiceAccount>(h, &uid, &mut out).await;
    owned::<Role>(h, &uid, &mut out).await;
    owned::<RoleBinding>(h, &uid, &mut out).await;
    owned::<PodDisruptionBudget>(h, &uid, &mut out).await;
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs berth-serve built and the tiny models (make operator-e2e)"]
async fn reapply_pause_pod_loss_scale_up_and_delete() {
    let h = Harness::start().await;
    let tiny = models_dir().join("tiny");
    h.repo.link("1", &tiny.join("1"));
    h.repo.link("2", &tiny.join("2"));
    let analysis = json!({"interval": "1s", "minRequests": 5, "maxP99Latency": "2s"});
    let manifest = h.manifest("1", 2, rollout(analysis));
    h.create_ready(&manifest).await;

    // Re-applying the same manifest changes nothing, not even a resourceVersion.
    let before = versions_of_everything(&h).await;
    assert_eq!(before.len(), 7, "the model and its six children: {before:?}");
    h.apply(&manifest).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(versions_of_everything(&h).await, before, "re-applying the same manifest changed something");

    let load = Load::start(&h, 2).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let t = Instant::now();
    h.merge(json!({"spec": {"version": "2"}})).await;
    h.wait("step 1", Duration::from_secs(60), |s| s.canary_weight == Some(50.0)).await;

    // Paused at 50%: the step's 3s pause runs out and nothing moves.
    h.merge(json!({"spec": {"rollout": {"paused": true}}})).await;
    h.wait("Paused", Duration::from_secs(10), |s| s.phase == Phase::Paused).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let status = h.status().await;
    assert_eq!((status.phase, status.canary_weight), (Phase::Paused, Some(50.0)), "{status:#?}");

    // A serving pod dies mid-rollout: its replacement loads what status.traffic lists.
    let pods = h.pods().await;
    let victim = pods[0].name_any();
    Api::<Pod>::namespaced(h.client.clone(), &h.namespace).delete(&victim, &DeleteParams::default()).await.unwrap();
    // And the model scales up from 2 to 3 while still paused.
    h.merge(json!({"spec": {"replicas": 3}})).await;
    let status = h
        .wait("3 ready pods while paused", Duration::from_secs(90), |s| {
            s.ready_replicas == 3 && s.canary_weight == Some(50.0)
        })
        .await;
    let names: Vec<String> = h.pods().await.iter().map(|p| p.name_any()).collect();
    eprintln!("pod {victim} deleted, scaled to 3 at 50%: pods {names:?}, canary pods {:?}", status.canary_pods);
    assert!(!names.contains(&victim));

    // Resume: the rollout finishes on all three pods.
    h.merge(json!({"spec": {"rollout": {"paused": false}}})).await;
    let status = h
        .wait("promotion of 2 on 3 pods", Duration::from_secs(90), |s| {
            s.stable_version.as_deref() == Some("2") && s.canary_version.is_none() && s.ready_replicas == 3
        })
        .await;
    eprintln!("paused, lost a pod, scaled up, resumed: promoted in {:.1}s", t.elapsed().as_secs_f64());
    assert!(is_true(&status.conditions, "Ready") && !is_true(&status.conditions, "Progressing"));
    // Every pod serves 2 only: 1 was drained and unloaded.
    let http = reqwest::Client::new();
    for pod in h.pods().await {
        let ip = pod.status.and_then(|s| s.pod_ip).unwrap();
        let url = format!("http://{ip}:8501/v1/models/{}", h.name);
        let v: Value = http.get(url).send().await.unwrap().json().await.unwrap();
        let available: Vec<&str> = v["model_version_status"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["state"] == "AVAILABLE")
            .filter_map(|s| s["version"].as_str())
            .collect();
        assert_eq!(available, ["2"], "{}: {v}", pod.metadata.name.unwrap_or_default());
    }
    let total = load.stop().await;
    eprintln!("answers: {total:?}");
    assert!(!total.contains_key("failed"), "{total:?}");
    assert!(total.get("2").copied().unwrap_or(0) > 0);

    // Deleting the model removes everything it owned, pods included.
    h.api.delete(&h.name, &DeleteParams::default()).await.unwrap();
    let start = Instant::now();
    loop {
        let deployments: Api<Deployment> = Api::namespaced(h.client.clone(), &h.namespace);
        let left = deployments.list(&ListParams::default()).await.unwrap().items.len() + h.pods().await.len();
        if left == 0 && h.api.get_opt(&h.name).await.unwrap().is_none() {
            break;
        }
        assert!(start.elapsed() < h.within(Duration::from_secs(60)), "{left} objects left after deleting the model");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let leftovers = {
        let svc: Api<Service> = Api::namespaced(h.client.clone(), &h.namespace);
        let list = svc.list(&ListParams::default()).await.unwrap();
        list.items.iter().filter(|s| s.name_any() != "kubernetes").count()
    };
    assert_eq!(leftovers, 0);
    eprintln!("model deleted: children and pods gone in {:.1}s", start.elapsed().as_secs_f64());
    h.shutdown().await;
}
