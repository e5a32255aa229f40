//! Garbage collection inside the server: ownerReference cascades
//! (background, foreground, orphan) and namespace termination. One pass runs
//! shortly after any change.

use crate::meta;
use crate::ops::{self, DeleteOpts, Sub, WriteOpts};
use crate::state::{Shared, State};
use crate::store::Key;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

const MANAGER: &str = "garbage-collector";

pub async fn run(shared: Arc<Shared>) {
    let mut rx = shared.lock().store.subscribe();
    loop {
        match rx.recv().await {
            Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
        // Let a burst of changes settle, then take passes until nothing moves.
        tokio::time::sleep(Duration::from_millis(5)).await;
        let mut st = shared.lock();
        loop {
            // Writes only happen under this lock, so what is queued now is
            // either seen by this pass or caused by it.
            while rx.try_recv().is_ok() {}
            if !pass(&mut st) {
                while rx.try_recv().is_ok() {}
                break;
            }
        }
    }
}

fn write(st: &mut State, key: &Key, obj: Value) {
    let Some(info) = st.find_any_version(&key.group, &key.resource) else {
        return;
    };
    let version = info.versions.first().cloned().unwrap_or_default();
    let opts = WriteOpts { manager: MANAGER.into(), ..Default::default() };
    if let Err(err) = ops::update(st, &info, &version, &key.namespace, &key.name, obj, Sub::Main, &opts) {
        tracing::debug!(%err, name = %key.name, "gc update failed");
    }
}

fn delete(st: &mut State, key: &Key, propagation: Option<&str>) {
    let Some(info) = st.find_any_version(&key.group, &key.resource) else {
        return;
    };
    let opts = DeleteOpts { propagation: propagation.map(str::to_string), ..Default::default() };
    if let Err(err) = ops::delete(st, &info, &key.namespace, &key.name, &opts) {
        tracing::debug!(%err, name = %key.name, "gc delete failed");
    }
}

fn drop_finalizer(st: &mut State, key: &Key, fin: &str) {
    if let Some(mut obj) = st.store.get(key).cloned() {
        let fins: Vec<String> = meta::finalizers(&obj).into_iter().filter(|f| f != fin).collect();
        meta::set_finalizers(&mut obj, fins);
        write(st, key, obj);
    }
}

/// One pass; true when it changed something.
pub fn pass(st: &mut State) -> bool {
    let before = st.store.current_rv();
    // Only objects GC can act on are copied: owned ones, deleting ones and
    // namespaces. Everything else contributes just its uid.
    let all: Vec<(Key, Value)> = st
        .store
        .all()
        .filter(|(k, v)| {
            (k.group.is_empty() && k.resource == "namespaces")
                || meta::is_deleting(v)
                || meta::meta(v).is_some_and(|m| m.contains_key("ownerReferences"))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let uids: HashMap<String, bool> = st.store.all().map(|(_, v)| (meta::uid(v), meta::is_deleting(v))).collect();
    let mut dependents: HashMap<String, Vec<Key>> = HashMap::new();
    for (k, v) in &all {
        for owner in meta::owner_uids(v) {
            dependents.entry(owner).or_default().push(k.clone());
        }
    }
    // Dependents whose owners are all gone: delete (background cascade);
    // dangling references next to live owners are dropped.
    for (k, v) in &all {
        let owners = meta::owner_uids(v);
        if owners.is_empty() || meta::is_deleting(v) {
            continue;
        }
        let live: Vec<&String> = owners.iter().filter(|u| uids.contains_key(*u)).collect();
        if live.is_empty() {
            delete(st, k, Some("Background"));
        } else if live.len() < owners.len() {
            let mut obj = v.clone();
            if let Some(refs) = obj.pointer_mut("/metadata/ownerReferences").and_then(Value::as_array_mut) {
                refs.retain(|r| r.get("uid").and_then(Value::as_str).is_some_and(|u| uids.contains_key(u)));
            }
            write(st, k, obj);
        }
    }
    let namespaces_deleting: HashSet<String> = all
        .iter()
        .filter(|(k, v)| k.group.is_empty() && k.resource == "namespaces" && meta::is_deleting(v))
        .map(|(k, _)| k.name.clone())
        .collect();
    for (k, v) in &all {
        if !meta::is_deleting(v) {
            continue;
        }
        let fins = meta::finalizers(v);
        let uid = meta::uid(v);
        let deps = dependents.get(&uid).cloned().unwrap_or_default();
        if fins.iter().any(|f| f == "orphan") {
            for d in &deps {
                if let Some(mut obj) = st.store.get(d).cloned() {
                    if let Some(refs) = obj.pointer_mut("/metadata/ownerReferences").and_then(Value::as_array_mut) {
                        refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(uid.as_str()));
                    }
                    write(st, d, obj);
                }
            }
            drop_finalizer(st, k, "orphan");
        } else if fins.iter().any(|f| f == "foregroundDeletion") {
            let live: Vec<&Key> = deps.iter().filter(|d| st.store.get(d).is_some()).collect();
            if live.is_empty() {
                drop_finalizer(st, k, "foregroundDeletion");
            } else {
                for d in live.into_iter().cloned().collect::<Vec<_>>() {
                    if uids.get(&meta::uid(st.store.get(&d).unwrap_or(&Value::Null))).is_some_and(|del| !*del) {
                        delete(st, &d, Some("Foreground"));
                    }
                }
            }
        }
    }
    // Namespace termination: delete the contents, then the namespace.
    for ns in namespaces_deleting {
        let contents: Vec<Key> = st
            .store
            .all()
            .filter(|(k, v)| k.namespace == ns && !meta::is_deleting(v))
            .map(|(k, _)| k.clone())
            .collect();
        for k in &contents {
            delete(st, k, Some("Background"));
        }
        let left = st.store.all().any(|(k, _)| k.namespace == ns);
        if !left {
            let key = Key::new("", "namespaces", "", &ns);
            if st.store.get(&key).is_some_and(|n| meta::finalizers(n).is_empty()) {
                st.store.remove(&key);
            }
        }
    }
    // Every active namespace has a `default` ServiceAccount, as the
    // serviceaccount controller ensures in Kubernetes.
    let active: Vec<String> = all
        .iter()
        .filter(|(k, v)| k.group.is_empty() && k.resource == "namespaces" && !meta::is_deleting(v))
        .map(|(k, _)| k.name.clone())
        .collect();
    for ns in active {
        if st.store.get(&Key::new("", "serviceaccounts", &ns, "default")).is_none()
            && let Some(info) = st.find_any_version("", "serviceaccounts")
        {
            let sa = serde_json::json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}});
            let opts = WriteOpts { manager: "serviceaccount-controller".into(), ..Default::default() };
            if let Err(err) = ops::create(st, &info, "v1", &ns, sa, &opts) {
                tracing::debug!(%err, %ns, "default serviceaccount");
            }
        }
    }
    st.store.current_rv() != before
}
