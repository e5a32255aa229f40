//! ReplicaSet controller: keeps `spec.replicas` pods of the template alive and
//! reports `status` (replicas, ready, available after minReadySeconds).
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use rand::Rng;
use serde_json::json;
use tokio::sync::{Notify, watch};

use super::{controller_ref, controller_uid, run_loop, trigger_on};
use crate::error::Result;

pub async fn run(client: Client, shutdown: watch::Receiver<bool>) {
    let notify = Arc::new(Notify::new());
    let t1 = trigger_on::<ReplicaSet>(client.clone(), notify.clone());
    let t2 = trigger_on::<Pod>(client.clone(), notify.clone());
    run_loop("replicaset", notify, Duration::from_secs(1), shutdown, || reconcile_all(client.clone())).await;
    t1.abort();
    t2.abort();
}

/// When the pod became Ready, if it is Ready.
pub fn ready_since(pod: &Pod) -> Option<Timestamp> {
    if pod.metadata.deletion_timestamp.is_some() {
        return None;
    }
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready" && c.status == "True")
        .map(|c| c.last_transition_time.as_ref().map(|t| t.0).unwrap_or_else(Timestamp::now))
}

pub fn is_available(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> bool {
    match ready_since(pod) {
        None => false,
        Some(t) => min_ready_seconds <= 0 || t + Duration::from_secs(min_ready_seconds as u64) <= now,
    }
}

/// Pods that count towards replicas: not being deleted, not finished.
pub fn is_active(pod: &Pod) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("");
    pod.metadata.deletion_timestamp.is_none() && phase != "Succeeded" && phase != "Failed"
}

async fn reconcile_all(client: Client) -> Result<()> {
    let rs_api: Api<ReplicaSet> = Api::all(client.clone());
    let pod_api: Api<Pod> = Api::all(client.clone());
    let sets = rs_api.list(&ListParams::default()).await?.items;
    let pods = pod_api.list(&ListParams::default()).await?.items;
    let mut by_owner: BTreeMap<String, Vec<Pod>> = BTreeMap::new();
    for p in pods {
        if let Some(uid) = controller_uid(&p.metadata) {
            by_owner.entry(uid.to_string()).or_default().push(p);
        }
    }
    let mut first_err = None;
    for rs in sets {
        let uid = rs.metadata.uid.clone().unwrap_or_default();
        let owned = by_owner.remove(&uid).unwrap_or_default();
        if let Err(e) = reconcile(&client, &rs, owned).await {
            first_err.get_or_insert(e);
        }
    }
    first_err.map_or(Ok(()), Err)
}

async fn reconcile(client: &Client, rs: &ReplicaSet, owned: Vec<Pod>) -> Result<()> {
    let ns = rs.namespace().unwrap_or_default();
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let spec = rs.spec.clone().unwrap_or_default();
    let desired = spec.replicas.unwrap_or(1).max(0) as usize;
    let mut active: Vec<Pod> = owned.iter().filter(|p| is_active(p)).cloned().collect();
    if rs.metadata.deletion_timestamp.is_none() {
        if active.len() < desired {
            for _ in active.len()..desired {
                let pod = new_pod(rs)?;
                let created = pods.create(&PostParams::default(), &pod).await?;
                active.push(created);
            }
        } else if active.len() > desired {
            // Delete the least useful first: unscheduled, not ready, newest.
            active.sort_by_key(|p| {
                (
                    p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some(),
                    ready_since(p).is_some(),
                    std::cmp::Reverse(p.metadata.creation_timestamp.as_ref().map(|t| t.0)),
                )
            });
            let excess = active.len() - desired;
            for p in active.drain(..excess) {
                match pods.delete(&p.name_any(), &DeleteParams::default()).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(s)) if s.code == 404 => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    let now = Timestamp::now();
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    let ready = active.iter().filter(|p| ready_since(p).is_some()).count();
    let available = active.iter().filter(|p| is_available(p, min_ready, now)).count();
    let status = json!({
        "replicas": active.len(),
        "fullyLabeledReplicas": active.len(),
        "readyReplicas": ready,
        "availableReplicas": available,
        "observedGeneration": rs.metadata.generation.unwrap_or(0),
    });
    let cur = rs.status.as_ref();
    let unchanged = cur.is_some_and(|s| {
        s.replicas as usize == active.len()
            && s.ready_replicas.unwrap_or(0) as usize == ready
            && s.available_replicas.unwrap_or(0) as usize == available
            && s.observed_generation == rs.metadata.generation
    });
    if !unchanged {
        let api: Api<ReplicaSet> = Api::namespaced(client.clone(), &ns);
        api.patch_status(&rs.name_any(), &PatchParams::default(), &Patch::Merge(&json!({"status": status}))).await?;
    }
    Ok(())
}

fn new_pod(rs: &ReplicaSet) -> Result<Pod> {
    let tpl = rs.spec.as_ref().map(|s| s.template.clone().unwrap_or_default()).unwrap_or_default();
    let mut meta = tpl.metadata.unwrap_or_default();
    meta.name = Some(format!("{}-{}", rs.name_any(), random_suffix()));
    meta.namespace = rs.namespace();
    meta.owner_references = controller_ref(rs).map(|r| vec![r]);
    meta.generate_name = None;
    Ok(Pod { metadata: meta, spec: tpl.spec, status: None })
}

/// Five characters from the alphabet Kubernetes uses for generated names.
pub fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    (0..5).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}
