//! Controlled mode: the desired set is the pod's own BertModel's
//! `status.traffic` (written by the operator). The server watches that one
//! object with a field-selector watch (read-only access suffices) and keeps
//! serving the last known state while the API server is unreachable.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_api::{BertModel, BertModelStatus, GoldenSetSpec};
use futures::StreamExt;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use tokio::sync::watch;

use super::golden_fetch::{GoldenFetch, fetch};
use super::repository::fingerprint;
use super::{DesiredVersion, GoldenGate, ModelManager, RemoteVersion, VersionId, VersionLabels};
use crate::remote::{RemoteStore, mirror};

/// How often an object store is listed again for changed versions (a failed
/// version whose objects were replaced is retried). Status changes list at once.
const REMOTE_RECHECK: Duration = Duration::from_secs(30);

/// Which BertModel this pod serves, and where its versions are mounted.
#[derive(Debug, Clone)]
pub struct ControlledSource {
    pub name: String,
    pub namespace: String,
    /// This pod's name: while the operator lets only some pods load the
    /// canary (`status.canaryPods`), the others skip it.
    pub pod_name: Option<String>,
    /// Version V lives in `{base}/{V}/` (with `remote`: its local mirror does).
    pub base: PathBuf,
    /// The object store the versions come from, when they are not on a volume.
    pub remote: Option<Arc<RemoteStore>>,
    /// How often the directories are re-checked (a listed version whose
    /// files arrive later, or change after a failed load).
    pub recheck: Duration,
}

/// Where the versions' files are.
pub enum Versions<'a> {
    /// `{base}/{V}/` on a volume.
    Local(&'a Path),
    /// Mirrored into `{cache}/{V}/` from `store`; `fingerprints` from its last listing.
    Remote { store: &'a Arc<RemoteStore>, cache: &'a Path, fingerprints: &'a BTreeMap<String, u64> },
}

/// The versions `status.traffic` lists, with their weights; None when the
/// status has no traffic yet (then the last state is kept).
pub fn desired_from_status(
    status: &BertModelStatus,
    versions: &Versions<'_>,
    pod: Option<&str>,
) -> Option<Vec<DesiredVersion>> {
    if status.traffic.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    for target in &status.traffic {
        let version: VersionId = match target.version.parse() {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "status.traffic lists a version that cannot be a directory; skipped");
                continue;
            }
        };
        let is_canary = status.canary_version.as_deref() == Some(target.version.as_str());
        let allowed = match (&status.canary_pods, pod) {
            (Some(pods), Some(pod)) if is_canary => pods.iter().any(|p| p == pod),
            _ => true,
        };
        if !allowed {
            continue;
        }
        let weight = Some(target.weight);
        out.push(match versions {
            Versions::Local(base) => {
                let dir = base.join(version.as_str());
                DesiredVersion { fingerprint: fingerprint(&dir), dir, version, weight, remote: None }
            }
            Versions::Remote { store, cache, fingerprints } => DesiredVersion {
                fingerprint: fingerprints.get(version.as_str()).copied().unwrap_or(0),
                dir: cache.join(version.as_str()),
                version,
                weight,
                remote: Some(RemoteVersion { store: Arc::clone(store) }),
            },
        });
    }
    Some(out)
}

/// Watches the BertModel until `shutdown`; applies every new traffic table
/// and re-checks the directories every `recheck`.
pub async fn run(manager: Arc<ModelManager>, source: ControlledSource, mut shutdown: watch::Receiver<bool>) {
    let client = match Client::try_default().await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "no Kubernetes client configuration; controlled mode cannot start");
            return;
        }
    };
    let api: Api<BertModel> = Api::namespaced(client.clone(), &source.namespace);
    let config = watcher::Config::default().fields(&format!("metadata.name={}", source.name));
    let mut events = watcher(api, config).default_backoff().boxed();
    let mut last_status: Option<BertModelStatus> = None;
    let mut last_applied: Option<Vec<DesiredVersion>> = None;
    let mut recheck = tokio::time::interval(source.recheck.max(Duration::from_millis(100)));
    let mut fingerprints: BTreeMap<String, u64> = BTreeMap::new();
    let mut listed_at: Option<Instant> = None;
    let mut golden_spec: Option<GoldenSetSpec> = None;
    let mut golden = GoldenState::default();
    tracing::info!(name = %source.name, namespace = %source.namespace, "watching the BertModel");
    loop {
        let mut status_changed = false;
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = recheck.tick() => {}
            event = events.next() => match event {
                None => {
                    tracing::warn!("the BertModel watch ended; keeping the last state");
                    return;
                }
                Some(Err(e)) => {
                    // The stream retries with backoff; the versions keep serving.
                    tracing::warn!(error = %e, "watching the BertModel failed; keeping the last state");
                    continue;
                }
                Some(Ok(watcher::Event::Apply(bm) | watcher::Event::InitApply(bm))) => {
                    status_changed = bm.status != last_status;
                    last_status = bm.status;
                    golden_spec = bm.spec.rollout.golden_set;
                }
                Some(Ok(watcher::Event::Delete(_))) => {
                    tracing::info!("the BertModel was deleted; keeping the last state until the pod stops");
                    continue;
                }
                Some(Ok(watcher::Event::Init | watcher::Event::InitDone)) => continue,
            },
        }
        let Some(status) = &last_status else { continue };
        // Labels follow every status change, also when the versions do not.
        manager.set_labels(VersionLabels::from_status(status));
        manager.set_mirror(mirror_of(status));
        let versions = match &source.remote {
            None => Versions::Local(&source.base),
            Some(store) => {
                if status_changed || listed_at.is_none_or(|at| at.elapsed() >= REMOTE_RECHECK) {
                    match store.versions().await {
                        Ok(listed) => fingerprints = listed,
                        // Keep the last fingerprints: loading reports its own fetch errors.
                        Err(e) => tracing::warn!(category = e.category(), error = %e, "listing the model repository"),
                    }
                    listed_at = Some(Instant::now());
                }
                Versions::Remote { store, cache: &source.base, fingerprints: &fingerprints }
            }
        };
        let Some(mut desired) = desired_from_status(status, &versions, source.pod_name.as_deref()) else { continue };
        // The canary's golden gate is in place before the canary is applied; while the
        // golden set cannot be read yet, the canary is not loaded at all.
        if let Some(held) = golden.update(&client, &source.namespace, status, golden_spec.as_ref()).await {
            desired.retain(|d| d.version != held);
        }
        manager.set_golden_gate(golden.gate());
        if last_applied.as_ref() != Some(&desired) {
            tracing::info!(
                traffic = ?desired.iter().map(|d| (d.version.to_string(), d.weight)).collect::<Vec<_>>(),
                "converging on status.traffic"
            );
            manager.apply(&desired);
            if source.remote.is_some() {
                let keep: Vec<String> = desired.iter().map(|d| d.version.to_string()).collect();
                mirror::prune(&source.base, &keep);
            }
            last_applied = Some(desired);
        }
    }
}

/// The canary's golden gate, read once per (canary, goldenSet spec).
#[derive(Default)]
struct GoldenState {
    /// The spec the gate was read for; the gate names its canary.
    read: Option<(GoldenSetSpec, GoldenGate)>,
}

impl GoldenState {
    /// Reads the golden set when the canary or the spec changed; returns the canary to
    /// hold back when it could not be read yet (asked again on the next pass).
    async fn update(
        &mut self,
        client: &Client,
        namespace: &str,
        status: &BertModelStatus,
        spec: Option<&GoldenSetSpec>,
    ) -> Option<VersionId> {
        let canary: Option<VersionId> = status.canary_version.as_deref().and_then(|v| v.parse().ok());
        let (Some(canary), Some(spec)) = (canary, spec) else {
            *self = Self::default();
            return None;
        };
        if self.read.as_ref().is_some_and(|(read, gate)| read == spec && gate.version == canary) {
            return None;
        }
        match fetch(client, namespace, spec, canary.clone()).await {
            GoldenFetch::Gate(gate) => {
                if let Err(e) = &gate.check {
                    tracing::warn!(version = %canary, error = %e, "the golden set cannot be used; the canary will fail it");
                }
                self.read = Some((spec.clone(), gate));
                None
            }
            GoldenFetch::Retry(e) => {
                tracing::warn!(version = %canary, error = %e, "reading the golden set; the canary waits");
                Some(canary)
            }
        }
    }

    fn gate(&self) -> Option<GoldenGate> {
        self.read.as_ref().map(|(_, gate)| gate.clone())
    }
}

/// The version stable's requests are copied to, and the share: `status.canaryVersion`
/// at `status.mirror` percent, when both are set and the share is positive.
fn mirror_of(status: &BertModelStatus) -> Option<(VersionId, f64)> {
    let percent = status.mirror.filter(|m| m.is_finite() && *m > 0.0)?;
    let canary = status.canary_version.as_deref()?.parse().ok()?;
    Some((canary, percent.min(100.0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_api::TrafficTarget;

    fn status(traffic: &[(&str, f64)]) -> BertModelStatus {
        BertModelStatus {
            traffic: traffic.iter().map(|(v, w)| TrafficTarget { version: v.to_string(), weight: *w }).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn traffic_becomes_desired_versions() {
        let base = Path::new("/models/m");
        let d = desired_from_status(&status(&[("2", 95.0), ("3", 5.0)]), &Versions::Local(base), None).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d[1].version.as_str(), "3");
        assert_eq!(d[1].dir, base.join("3"));
        assert_eq!(d[1].weight, Some(5.0));
        assert!(desired_from_status(&status(&[]), &Versions::Local(base), None).is_none());
        // A name that could leave the base path is never loaded.
        let d = desired_from_status(&status(&[("../etc", 100.0)]), &Versions::Local(base), None).unwrap();
        assert!(d.is_empty());
    }

    #[test]
    fn remote_versions_map_to_the_cache_with_the_store_fingerprints() {
        let store = Arc::new(RemoteStore::from_uri_with("s3://models/sentiment", &[]).unwrap());
        let cache = Path::new("/var/cache/berth/sentiment");
        let fingerprints = BTreeMap::from([("2".to_string(), 7u64)]);
        let versions = Versions::Remote { store: &store, cache, fingerprints: &fingerprints };
        let d = desired_from_status(&status(&[("2", 90.0), ("3", 10.0)]), &versions, None).unwrap();
        assert_eq!((d[0].dir.as_path(), d[0].fingerprint), (cache.join("2").as_path(), 7));
        // Not listed yet (uploading): fingerprint 0 until the next listing.
        assert_eq!((d[1].dir.as_path(), d[1].fingerprint), (cache.join("3").as_path(), 0));
        assert!(d.iter().all(|v| v.remote.as_ref().is_some_and(|r| Arc::ptr_eq(&r.store, &store))));
    }

    #[test]
    fn only_listed_pods_load_the_canary() {
        let mut s = status(&[("2", 100.0), ("3", 0.0)]);
        s.canary_version = Some("3".into());
        s.canary_pods = Some(vec!["pod-a".into()]);
        let base = Path::new("/m");
        let names = |pod| -> Vec<String> {
            desired_from_status(&s, &Versions::Local(base), pod)
                .unwrap()
                .iter()
                .map(|d| d.version.to_string())
                .collect()
        };
        assert_eq!(names(Some("pod-a")), ["2", "3"]);
        assert_eq!(names(Some("pod-b")), ["2"]);
        assert_eq!(names(None), ["2", "3"]);
    }
}
