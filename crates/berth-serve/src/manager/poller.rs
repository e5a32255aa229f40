//! Standalone mode: the desired set is what the version policy picks from the
//! base path, re-read every poll interval like TF Serving does. An object-store
//! base path is listed instead, and the chosen versions are mirrored under the
//! local cache directory when they load.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::repository::{fingerprint, scan_versions};
use super::{DesiredVersion, ModelManager, RemoteVersion, RepoError, VersionPolicy};
use crate::remote::{RemoteStore, mirror};

/// The entries of `listed` (ascending by version) whose versions `policy` picks.
fn pick<T>(listed: Vec<(u64, T)>, policy: &VersionPolicy) -> impl Iterator<Item = (u64, T)> {
    let numbers: Vec<u64> = listed.iter().map(|(v, _)| *v).collect();
    let chosen = policy.select(&numbers);
    listed.into_iter().filter(move |(v, _)| chosen.contains(v))
}

/// The versions `policy` selects under `base`, without weights.
pub fn desired_from_disk(base: &Path, policy: &VersionPolicy) -> Result<Vec<DesiredVersion>, RepoError> {
    Ok(pick(scan_versions(base)?, policy)
        .map(|(version, dir)| DesiredVersion {
            version: version.into(),
            fingerprint: fingerprint(&dir),
            dir,
            weight: None,
            remote: None,
        })
        .collect())
}

/// The versions `policy` selects in the object store; each maps to `cache/{V}`.
pub async fn desired_from_store(
    store: &Arc<RemoteStore>,
    cache: &Path,
    policy: &VersionPolicy,
) -> Result<Vec<DesiredVersion>, RepoError> {
    // TF Serving's layout: a version is a directory named by a number.
    let mut listed: Vec<(u64, u64)> =
        store.versions().await?.into_iter().filter_map(|(name, fp)| Some((name.parse().ok()?, fp))).collect();
    listed.sort_unstable();
    Ok(pick(listed, policy)
        .map(|(version, fingerprint)| DesiredVersion {
            version: version.into(),
            dir: cache.join(version.to_string()),
            fingerprint,
            weight: None,
            remote: Some(RemoteVersion { store: Arc::clone(store) }),
        })
        .collect())
}

/// Applies the disk's state now, then every `interval` until `shutdown`
/// turns true. A zero interval reads the disk once (TF Serving's meaning).
/// A base path that cannot be read keeps the last state.
pub async fn run(
    manager: Arc<ModelManager>,
    base: PathBuf,
    policy: VersionPolicy,
    interval: Duration,
    remote: Option<Arc<RemoteStore>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut last: Option<Vec<DesiredVersion>> = None;
    loop {
        let desired = match &remote {
            Some(store) => desired_from_store(store, &base, &policy).await,
            None => desired_from_disk(&base, &policy),
        };
        match desired {
            Ok(desired) => {
                if last.as_ref() != Some(&desired) {
                    tracing::info!(
                        model = manager.name(),
                        versions = ?desired.iter().map(|d| d.version.to_string()).collect::<Vec<_>>(),
                        "model repository changed"
                    );
                    manager.apply(&desired);
                    if remote.is_some() {
                        let keep: Vec<String> = desired.iter().map(|d| d.version.to_string()).collect();
                        mirror::prune(&base, &keep);
                    }
                    last = Some(desired);
                }
            }
            Err(e) => {
                tracing::warn!(model = manager.name(), category = e.category(), error = %e, "polling the model repository")
            }
        }
        if interval.is_zero() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
    }
}
