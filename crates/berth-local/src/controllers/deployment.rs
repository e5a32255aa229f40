//! Deployment controller: one ReplicaSet per pod template (named by
//! `pod-template-hash`), rolling updates within maxSurge/maxUnavailable or
//! Recreate, revision annotations, old-ReplicaSet cleanup, and the `status`
//! fields and conditions `kubectl rollout status` reads.
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};
use tokio::sync::{Notify, watch};

use super::rollout::{Rs, fenceposts, new_rs_replicas, scale_down_old, template_hash};
use super::{controller_ref, controller_uid, run_loop, trigger_on};
use crate::error::Result;

pub const REVISION: &str = "deployment.kubernetes.io/revision";
pub const HASH_LABEL: &str = "pod-template-hash";

pub async fn run(client: Client, shutdown: watch::Receiver<bool>) {
    let notify = Arc::new(Notify::new());
    let t1 = trigger_on::<Deployment>(client.clone(), notify.clone());
    let t2 = trigger_on::<ReplicaSet>(client.clone(), notify.clone());
    run_loop("deployment", notify, Duration::from_secs(2), shutdown, || reconcile_all(client.clone())).await;
    t1.abort();
    t2.abort();
}

async fn reconcile_all(client: Client) -> Result<()> {
    let deps = Api::<Deployment>::all(client.clone()).list(&ListParams::default()).await?.items;
    let sets = Api::<ReplicaSet>::all(client.clone()).list(&ListParams::default()).await?.items;
    let mut by_owner: BTreeMap<String, Vec<ReplicaSet>> = BTreeMap::new();
    for rs in sets {
        if let Some(uid) = controller_uid(&rs.metadata) {
            by_owner.entry(uid.to_string()).or_default().push(rs);
        }
    }
    let mut first_err = None;
    for d in deps {
        if d.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let owned = by_owner.remove(d.metadata.uid.as_deref().unwrap_or("")).unwrap_or_default();
        if let Err(e) = reconcile(&client, &d, owned).await {
            first_err.get_or_insert(e);
        }
    }
    first_err.map_or(Ok(()), Err)
}

fn revision(rs: &ReplicaSet) -> i64 {
    rs.annotations().get(REVISION).and_then(|r| r.parse().ok()).unwrap_or(0)
}

fn spec_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0)
}

fn as_rs(rs: &ReplicaSet) -> Rs {
    Rs { spec: spec_replicas(rs), available: rs.status.as_ref().and_then(|s| s.available_replicas).unwrap_or(0) }
}

async fn reconcile(client: &Client, d: &Deployment, mut owned: Vec<ReplicaSet>) -> Result<()> {
    let ns = d.namespace().unwrap_or_default();
    let rs_api: Api<ReplicaSet> = Api::namespaced(client.clone(), &ns);
    let spec = d.spec.clone().unwrap_or_default();
    let desired = spec.replicas.unwrap_or(1).max(0);
    let tpl_json = serde_json::to_vec(&spec.template)?;
    let collisions = d.status.as_ref().and_then(|s| s.collision_count).unwrap_or(0);
    let hash = template_hash(&tpl_json, collisions);
    owned.sort_by_key(|r| (r.metadata.creation_timestamp.as_ref().map(|t| t.0), r.name_any()));
    let max_rev = owned.iter().map(revision).max().unwrap_or(0);
    let new_idx = owned.iter().position(|r| r.labels().get(HASH_LABEL) == Some(&hash));
    let paused = spec.paused == Some(true);
    let new_idx = match new_idx {
        Some(i) => {
            if revision(&owned[i]) < max_rev {
                // A rollback to an older template: it becomes the newest revision.
                let p = json!({"metadata": {"annotations": {REVISION: (max_rev + 1).to_string()}}});
                owned[i] = rs_api.patch(&owned[i].name_any(), &PatchParams::default(), &Patch::Merge(&p)).await?;
            }
            Some(i)
        }
        None if paused => None,
        None => {
            let rs = new_replica_set(d, &hash, max_rev + 1)?;
            let created = rs_api.create(&PostParams::default(), &rs).await?;
            owned.push(created);
            Some(owned.len() - 1)
        }
    };
    let Some(new_idx) = new_idx else {
        return write_status(client, d, &owned, None, desired).await;
    };
    if !paused {
        let new = owned[new_idx].clone();
        let olds: Vec<ReplicaSet> =
            owned.iter().enumerate().filter(|(i, _)| *i != new_idx).map(|(_, r)| r.clone()).collect();
        let mut targets: Vec<(String, i32, i32)> = Vec::new(); // name, current, wanted
        let recreate = spec.strategy.as_ref().and_then(|s| s.type_.as_deref()) == Some("Recreate");
        if recreate {
            let old_running: i32 =
                olds.iter().map(|r| spec_replicas(r) + r.status.as_ref().map(|s| s.replicas).unwrap_or(0)).sum();
            for r in &olds {
                targets.push((r.name_any(), spec_replicas(r), 0));
            }
            let want = if old_running == 0 { desired } else { 0 };
            targets.push((new.name_any(), spec_replicas(&new), want.max(spec_replicas(&new).min(desired))));
        } else {
            let ru = spec.strategy.as_ref().and_then(|s| s.rolling_update.clone()).unwrap_or_default();
            let (surge, unavailable) = fenceposts(ru.max_surge.as_ref(), ru.max_unavailable.as_ref(), desired);
            let all: i32 = owned.iter().map(spec_replicas).sum();
            let mut n = as_rs(&new);
            n.spec = new_rs_replicas(desired, surge, &n, all);
            targets.push((new.name_any(), spec_replicas(&new), n.spec));
            let old_rs: Vec<Rs> = olds.iter().map(as_rs).collect();
            let wanted = scale_down_old(desired, unavailable, &n, &old_rs);
            for (r, w) in olds.iter().zip(wanted) {
                targets.push((r.name_any(), spec_replicas(r), w));
            }
        }
        for (name, cur, want) in targets {
            if cur != want {
                let p = json!({"spec": {"replicas": want}});
                let updated = rs_api.patch(&name, &PatchParams::default(), &Patch::Merge(&p)).await?;
                if let Some(slot) = owned.iter_mut().find(|r| r.name_any() == name) {
                    *slot = updated;
                }
            }
        }
        cleanup_history(&rs_api, &owned, new_idx, spec.revision_history_limit.unwrap_or(10)).await?;
    }
    write_status(client, d, &owned, Some(new_idx), desired).await
}

/// Deletes the oldest fully scaled-down ReplicaSets beyond the history limit.
async fn cleanup_history(api: &Api<ReplicaSet>, owned: &[ReplicaSet], new_idx: usize, limit: i32) -> Result<()> {
    let idle: Vec<&ReplicaSet> = owned
        .iter()
        .enumerate()
        .filter(|(i, r)| {
            *i != new_idx && spec_replicas(r) == 0 && r.status.as_ref().map(|s| s.replicas).unwrap_or(0) == 0
        })
        .map(|(_, r)| r)
        .collect();
    let excess = idle.len().saturating_sub(limit.max(0) as usize);
    for r in idle.into_iter().take(excess) {
        match api.delete(&r.name_any(), &DeleteParams::background()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn new_replica_set(d: &Deployment, hash: &str, revision: i64) -> Result<ReplicaSet> {
    let spec = d.spec.clone().unwrap_or_default();
    let mut tpl = spec.template.clone();
    let mut tmeta = tpl.metadata.unwrap_or_default();
    tmeta.labels.get_or_insert_with(BTreeMap::new).insert(HASH_LABEL.into(), hash.into());
    let labels = tmeta.labels.clone();
    tpl.metadata = Some(tmeta);
    let mut selector: LabelSelector = spec.selector.clone();
    selector.match_labels.get_or_insert_with(BTreeMap::new).insert(HASH_LABEL.into(), hash.into());
    let mut annotations = BTreeMap::new();
    annotations.insert(REVISION.to_string(), revision.to_string());
    Ok(ReplicaSet {
        metadata: ObjectMeta {
            name: Some(format!("{}-{hash}", d.name_any())),
            namespace: d.namespace(),
            labels,
            annotations: Some(annotations),
            owner_references: controller_ref(d).map(|r| vec![r]),
            ..Default::default()
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(0),
            min_ready_seconds: spec.min_ready_seconds,
            selector,
            template: Some(tpl),
        }),
        status: None,
    })
}

async fn write_status(
    client: &Client,
    d: &Deployment,
    owned: &[ReplicaSet],
    new_idx: Option<usize>,
    desired: i32,
) -> Result<()> {
    let st = |r: &ReplicaSet| r.status.clone().unwrap_or_default();
    let replicas: i32 = owned.iter().map(|r| st(r).replicas).sum();
    let ready: i32 = owned.iter().map(|r| st(r).ready_replicas.unwrap_or(0)).sum();
    let available: i32 = owned.iter().map(|r| st(r).available_replicas.unwrap_or(0)).sum();
    let new = new_idx.and_then(|i| owned.get(i));
    let updated = new.map(|r| st(r).replicas).unwrap_or(0);
    let spec = d.spec.clone().unwrap_or_default();
    let ru = spec.strategy.as_ref().and_then(|s| s.rolling_update.clone()).unwrap_or_default();
    let (_, max_unavailable) = fenceposts(ru.max_surge.as_ref(), ru.max_unavailable.as_ref(), desired);
    let recreate = spec.strategy.as_ref().and_then(|s| s.type_.as_deref()) == Some("Recreate");
    let min_available = if recreate { desired } else { desired - max_unavailable };
    let new_name = new.map(|r| r.name_any()).unwrap_or_default();
    let complete = new.is_some() && updated == desired && replicas == desired && available >= desired;
    let old_conds = d.status.as_ref().and_then(|s| s.conditions.clone()).unwrap_or_default();
    let now = Timestamp::now().to_string();
    // Progress = any of the counts moved since the last status.
    let cur_status = d.status.clone().unwrap_or_default();
    let progressed = cur_status.updated_replicas.unwrap_or(0) != updated
        || cur_status.replicas.unwrap_or(0) != replicas
        || cur_status.ready_replicas.unwrap_or(0) != ready
        || cur_status.available_replicas.unwrap_or(0) != available
        || cur_status.observed_generation != d.metadata.generation;
    let cond = |kind: &str, ok: bool, reason: &str, message: String, touched: bool| -> Value {
        let status = if ok { "True" } else { "False" };
        let prev = old_conds.iter().find(|c| c.type_ == kind);
        let transition = match prev {
            Some(p) if p.status == status => {
                p.last_transition_time.as_ref().map(|t| t.0.to_string()).unwrap_or(now.clone())
            }
            _ => now.clone(),
        };
        let update = match prev {
            Some(p) if !touched && p.status == status && p.reason.as_deref() == Some(reason) => {
                p.last_update_time.as_ref().map(|t| t.0.to_string()).unwrap_or(now.clone())
            }
            _ => now.clone(),
        };
        json!({"type": kind, "status": status, "reason": reason, "message": message,
               "lastTransitionTime": transition, "lastUpdateTime": update})
    };
    let avail_ok = available >= min_available;
    let conditions = vec![
        cond(
            "Available",
            avail_ok,
            if avail_ok { "MinimumReplicasAvailable" } else { "MinimumReplicasUnavailable" },
            if avail_ok {
                "Deployment has minimum availability.".into()
            } else {
                "Deployment does not have minimum availability.".into()
            },
            false,
        ),
        if complete {
            cond(
                "Progressing",
                true,
                "NewReplicaSetAvailable",
                format!("ReplicaSet {new_name:?} has successfully progressed."),
                progressed,
            )
        } else if !progressed && deadline_passed(d, &old_conds) {
            cond(
                "Progressing",
                false,
                "ProgressDeadlineExceeded",
                format!("ReplicaSet {new_name:?} has timed out progressing."),
                false,
            )
        } else {
            cond(
                "Progressing",
                true,
                "ReplicaSetUpdated",
                format!("ReplicaSet {new_name:?} is progressing."),
                progressed,
            )
        },
    ];
    let status = json!({
        "observedGeneration": d.metadata.generation.unwrap_or(0),
        "replicas": replicas,
        "updatedReplicas": updated,
        "readyReplicas": ready,
        "availableReplicas": available,
        "unavailableReplicas": (desired - available).max(0),
        "conditions": conditions,
    });
    let current = d.status.as_ref().map(serde_json::to_value).transpose()?;
    let revision_now = new.map(revision).unwrap_or(0).to_string();
    let ann_ok = d.annotations().get(REVISION).map(String::as_str) == Some(revision_now.as_str()) || new.is_none();
    let api: Api<Deployment> = Api::namespaced(client.clone(), &d.namespace().unwrap_or_default());
    if !ann_ok {
        let p = json!({"metadata": {"annotations": {REVISION: revision_now}}});
        api.patch(&d.name_any(), &PatchParams::default(), &Patch::Merge(&p)).await?;
    }
    if current.as_ref().map(|c| same_status(c, &status)) != Some(true) {
        api.patch_status(&d.name_any(), &PatchParams::default(), &Patch::Merge(&json!({"status": status}))).await?;
    }
    Ok(())
}

/// True when the rollout has made no progress for `progressDeadlineSeconds`
/// since the Progressing condition last changed (or already timed out).
fn deadline_passed(d: &Deployment, conds: &[k8s_openapi::api::apps::v1::DeploymentCondition]) -> bool {
    let Some(secs) = d.spec.as_ref().and_then(|s| s.progress_deadline_seconds) else {
        return false;
    };
    let Some(p) = conds.iter().find(|c| c.type_ == "Progressing") else {
        return false;
    };
    if p.reason.as_deref() == Some("ProgressDeadlineExceeded") {
        return true;
    }
    if p.reason.as_deref() == Some("NewReplicaSetAvailable") {
        return false;
    }
    p.last_update_time.as_ref().is_some_and(|t| t.0 + Duration::from_secs(secs.max(0) as u64) < Timestamp::now())
}

/// Compares the fields this controller writes, so timestamps alone do not
/// cause a write on every pass.
fn same_status(cur: &Value, new: &Value) -> bool {
    let keys = [
        "observedGeneration",
        "replicas",
        "updatedReplicas",
        "readyReplicas",
        "availableReplicas",
        "unavailableReplicas",
    ];
    let num = |v: &Value, k: &str| v.get(k).and_then(Value::as_i64).unwrap_or(0);
    if keys.iter().any(|k| num(cur, k) != num(new, k)) {
        return false;
    }
    let conds = |v: &Value| -> Vec<(String, String, String)> {
        v.get("conditions")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|c| {
                        let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                        (s("type"), s("status"), s("reason"))
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    conds(cur) == conds(new)
}
