//! Standalone mode: the desired set is what the version policy picks from the
//! base path, re-read every poll interval like TF Serving does.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::repository::{fingerprint, scan_versions};
use super::{DesiredVersion, ModelManager, RepoError, VersionPolicy};

/// The versions `policy` selects under `base`, without weights.
pub fn desired_from_disk(base: &Path, policy: &VersionPolicy) -> Result<Vec<DesiredVersion>, RepoError> {
    let on_disk = scan_versions(base)?;
    let numbers: Vec<u64> = on_disk.iter().map(|(v, _)| *v).collect();
    let chosen = policy.select(&numbers);
    Ok(on_disk
        .into_iter()
        .filter(|(v, _)| chosen.contains(v))
        .map(|(version, dir)| DesiredVersion {
            version: version.into(),
            fingerprint: fingerprint(&dir),
            dir,
            weight: None,
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
    mut shutdown: watch::Receiver<bool>,
) {
    let mut last: Option<Vec<DesiredVersion>> = None;
    loop {
        match desired_from_disk(&base, &policy) {
            Ok(desired) => {
                if last.as_ref() != Some(&desired) {
                    tracing::info!(
                        model = manager.name(),
                        versions = ?desired.iter().map(|d| d.version.to_string()).collect::<Vec<_>>(),
                        "model repository changed"
                    );
                    manager.apply(&desired);
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
