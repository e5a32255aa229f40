//! Copying one version from the object store into the local cache, atomically:
//! the files land in a hidden sibling directory and are renamed into place, so a
//! half-downloaded version is never read. A marker file holds the fingerprint of
//! what was copied; a version already mirrored with the same objects is reused.

use std::path::{Component, Path, PathBuf};

use super::RemoteError;
use super::store::{Object, RemoteStore, fingerprint};

const MARKER: &str = ".berth-remote-fingerprint";

/// Makes `dir` hold version `version` of `store`; returns the number of bytes
/// downloaded (0 when the cache already had it).
pub async fn mirror(store: &RemoteStore, version: &str, dir: &Path) -> Result<u64, RemoteError> {
    let objects = store.list(&format!("{version}/")).await?;
    if objects.is_empty() {
        return Err(RemoteError::Empty(format!("{}/{version}/", store.uri())));
    }
    let wanted = fingerprint(objects.iter()).to_string();
    if std::fs::read_to_string(dir.join(MARKER)).is_ok_and(|have| have.trim() == wanted) {
        return Ok(0);
    }
    let parent = dir.parent().ok_or_else(|| RemoteError::io(dir, std::io::ErrorKind::InvalidInput.into()))?;
    std::fs::create_dir_all(parent).map_err(|e| RemoteError::io(parent, e))?;
    let name = dir.file_name().map_or_else(|| version.to_string(), |n| n.to_string_lossy().into_owned());
    let staging = parent.join(format!(".fetch-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    let result = download_all(store, version, &objects, &staging).await;
    let bytes = match result {
        Ok(bytes) => bytes,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    std::fs::write(staging.join(MARKER), &wanted).map_err(|e| RemoteError::io(staging.join(MARKER), e))?;
    if dir.exists() {
        // An older copy (changed objects): move it aside, then drop it. Loaded
        // versions hold their weights in memory, so nothing reads it any more.
        let old = parent.join(format!(".old-{name}-{}", std::process::id()));
        std::fs::rename(dir, &old).map_err(|e| RemoteError::io(dir, e))?;
        let _ = std::fs::remove_dir_all(&old);
    }
    std::fs::rename(&staging, dir).map_err(|e| RemoteError::io(dir, e))?;
    Ok(bytes)
}

async fn download_all(
    store: &RemoteStore,
    version: &str,
    objects: &[Object],
    staging: &Path,
) -> Result<u64, RemoteError> {
    let mut bytes = 0;
    for object in objects {
        let rel = relative_path(object.key(), version)?;
        let to = staging.join(&rel);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(|e| RemoteError::io(parent, e))?;
        }
        bytes += store.download(object, &to).await?;
    }
    Ok(bytes)
}

/// The part of `key` after `.../{version}/`, refused when it could escape the
/// version directory (`..`, absolute paths).
fn relative_path(key: &str, version: &str) -> Result<PathBuf, RemoteError> {
    let marker = format!("{version}/");
    let rel = key
        .strip_prefix(&marker)
        .or_else(|| key.find(&format!("/{marker}")).map(|at| &key[at + marker.len() + 1..]))
        .ok_or_else(|| RemoteError::UnsafeKey(key.to_string()))?;
    let path = PathBuf::from(rel);
    if rel.is_empty() || !path.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(RemoteError::UnsafeKey(key.to_string()));
    }
    Ok(path)
}

/// Removes cached versions that are not in `keep` (directory names), and staging
/// or superseded copies left by this process or by one that no longer runs (a
/// container restarted mid-download keeps its emptyDir).
pub fn prune(cache: &Path, keep: &[String]) {
    let Ok(entries) = std::fs::read_dir(cache) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_version = name.parse::<u64>().is_ok();
        let stale = (is_version && !keep.contains(&name)) || leftover(&name);
        if stale {
            tracing::info!(dir = %entry.path().display(), "removing a cached version that is no longer wanted");
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// `.old-{name}-{pid}` always (it is only ever deleted), `.fetch-{name}-{pid}` when
/// that process is gone: a running one may still be writing it.
fn leftover(name: &str) -> bool {
    let Some(pid) = name.rsplit_once('-').and_then(|(_, pid)| pid.parse::<u32>().ok()) else { return false };
    if name.starts_with(".old-") {
        return true;
    }
    name.starts_with(".fetch-") && pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_inside_the_version_directory() {
        assert_eq!(relative_path("models/tiny/3/model.onnx", "3").unwrap(), PathBuf::from("model.onnx"));
        assert_eq!(
            relative_path("3/variables/variables.index", "3").unwrap(),
            PathBuf::from("variables/variables.index")
        );
        for bad in ["models/tiny/3/../../etc/passwd", "models/tiny/3/", "models/tiny/4/x", "models/tiny/3//abs"] {
            assert!(relative_path(bad, "3").is_err(), "{bad}");
        }
    }

    #[test]
    fn prune_keeps_wanted_versions_and_foreign_files() {
        let cache = tempfile::tempdir().unwrap();
        let me = std::process::id();
        // pid 1 runs (init); u32::MAX is no process.
        for d in ["1", "2", "3", "notes", &format!(".old-2-{me}"), &format!(".fetch-4-{me}"), ".fetch-5-1"] {
            std::fs::create_dir(cache.path().join(d)).unwrap();
        }
        std::fs::create_dir(cache.path().join(format!(".fetch-6-{}", u32::MAX))).unwrap();
        prune(cache.path(), &["3".to_string()]);
        let mut left: Vec<String> = std::fs::read_dir(cache.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, [format!(".fetch-4-{me}"), ".fetch-5-1".to_string(), "3".to_string(), "notes".to_string()]);
    }
}
