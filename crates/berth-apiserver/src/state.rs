//! Shared server state: the store plus the table of served resources,
//! behind one mutex (handlers never await while holding it).

use crate::error::ApiServerError;
use crate::resources::{self, ResourceInfo};
use crate::store::{Key, Store};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

pub struct State {
    pub store: Store,
    builtins: Vec<ResourceInfo>,
    custom: Vec<ResourceInfo>,
}

impl State {
    pub fn resources(&self) -> impl Iterator<Item = &ResourceInfo> {
        self.builtins.iter().chain(self.custom.iter())
    }

    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<ResourceInfo> {
        self.resources()
            .find(|r| r.group == group && r.plural == plural && r.versions.iter().any(|v| v == version))
            .cloned()
    }

    pub fn find_any_version(&self, group: &str, plural: &str) -> Option<ResourceInfo> {
        self.resources().find(|r| r.group == group && r.plural == plural).cloned()
    }

    /// Rebuild the custom resource table from stored CRDs.
    pub fn refresh_crds(&mut self) {
        let crds: Vec<Value> = self
            .store
            .list("apiextensions.k8s.io", "customresourcedefinitions", None)
            .map(|(_, v)| v.clone())
            .collect();
        self.custom = crds.iter().filter_map(resources::from_crd).collect();
    }
}

pub struct Shared {
    state: Mutex<State>,
    closing: tokio::sync::watch::Sender<bool>,
}

impl Shared {
    pub fn new(event_log_capacity: usize) -> Self {
        let mut store = Store::new(event_log_capacity);
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let obj = json!({
                "apiVersion": "v1", "kind": "Namespace",
                "metadata": {
                    "name": ns, "uid": crate::meta::new_uid(),
                    "creationTimestamp": crate::meta::now(),
                    "labels": {"kubernetes.io/metadata.name": ns},
                },
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"},
            });
            store.put(Key::new("", "namespaces", "", ns), obj);
            let sa = json!({
                "apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": "default", "namespace": ns, "uid": crate::meta::new_uid(),
                    "creationTimestamp": crate::meta::now()},
            });
            store.put(Key::new("", "serviceaccounts", ns, "default"), sa);
        }
        let (closing, _) = tokio::sync::watch::channel(false);
        Self { state: Mutex::new(State { store, builtins: resources::builtins(), custom: Vec::new() }), closing }
    }

    /// Lock the state. A poisoned lock (a panic while held) still yields the
    /// data: every mutation is a single map insert, so it stays consistent.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn closing(&self) -> tokio::sync::watch::Receiver<bool> {
        self.closing.subscribe()
    }

    pub fn close_watches(&self) {
        let _ = self.closing.send(true);
    }

    pub fn load_snapshot(&self, dir: &Path) -> Result<(), ApiServerError> {
        let path = dir.join("apiserver-state.json");
        if !path.exists() {
            return Ok(());
        }
        let text =
            std::fs::read_to_string(&path).map_err(|source| ApiServerError::Snapshot { path: path.clone(), source })?;
        let snap: Value =
            serde_json::from_str(&text).map_err(|source| ApiServerError::SnapshotFormat { path, source })?;
        let mut st = self.lock();
        st.store.restore(&snap);
        st.refresh_crds();
        Ok(())
    }

    pub fn save_snapshot(&self, dir: &Path) -> Result<(), ApiServerError> {
        let snap = self.lock().store.snapshot();
        let path = dir.join("apiserver-state.json");
        std::fs::create_dir_all(dir).map_err(|source| ApiServerError::Snapshot { path: path.clone(), source })?;
        // Write then rename, so a reader never sees half a snapshot.
        let tmp = dir.join("apiserver-state.json.tmp");
        std::fs::write(&tmp, snap.to_string())
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|source| ApiServerError::Snapshot { path, source })
    }
}
