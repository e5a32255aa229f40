//! Level-triggered controllers: each watches the kinds it depends on and,
//! on any change (and on a short tick, for time-based conditions such as
//! minReadySeconds), reconciles everything from fresh lists. On one machine
//! with a few hundred objects this is cheap, and reading straight from the
//! API server avoids acting on a stale cache (no duplicate pods).
pub mod deployment;
pub mod endpoints;
pub mod replicaset;
pub mod rollout;

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::runtime::watcher;
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::error::Result;

/// Wakes `notify` on every event of kind `K`.
pub fn trigger_on<K>(client: Client, notify: Arc<Notify>) -> JoinHandle<()>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    tokio::spawn(async move {
        let api: Api<K> = Api::all(client);
        let mut s = watcher(api, watcher::Config::default()).boxed();
        while let Some(ev) = s.next().await {
            if ev.is_err() {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            notify.notify_one();
        }
    })
}

/// Runs `reconcile` whenever `notify` fires or `tick` passes, until shutdown.
pub async fn run_loop<F, Fut>(
    name: &'static str,
    notify: Arc<Notify>,
    tick: Duration,
    mut shutdown: watch::Receiver<bool>,
    mut reconcile: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<()>>,
{
    loop {
        if *shutdown.borrow() {
            return;
        }
        if let Err(e) = reconcile().await {
            // Conflicts are normal (someone wrote in between); retry soon.
            if e.is_conflict() || e.is_not_found() {
                tracing::debug!(controller = name, error = %e, "reconcile raced");
            } else {
                tracing::warn!(controller = name, error = %e, category = e.category(), "reconcile failed");
            }
        }
        tokio::select! {
            _ = notify.notified() => {
                // Let a burst of events settle into one pass.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            _ = tokio::time::sleep(tick) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// True when `labels` has every pair of `selector`.
pub fn matches_labels(
    selector: &std::collections::BTreeMap<String, String>,
    labels: Option<&std::collections::BTreeMap<String, String>>,
) -> bool {
    selector.iter().all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

/// The uid of the controller owner, if any.
pub fn controller_uid(meta: &kube::api::ObjectMeta) -> Option<&str> {
    meta.owner_references.iter().flatten().find(|o| o.controller == Some(true)).map(|o| o.uid.as_str())
}

/// An owner reference marking `owner` as the controller.
pub fn controller_ref<K: Resource<DynamicType = ()>>(
    owner: &K,
) -> Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference> {
    let meta = owner.meta();
    Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
        api_version: K::api_version(&()).into_owned(),
        kind: K::kind(&()).into_owned(),
        name: meta.name.clone()?,
        uid: meta.uid.clone()?,
        controller: Some(true),
        block_owner_deletion: Some(true),
    })
}
