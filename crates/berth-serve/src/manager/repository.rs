//! The model repository in TF Serving's layout: `{base}/{version}/`, where a
//! version is a directory whose name is a non-negative integer. Anything
//! else in the base path (temporary copies, dot files) is ignored.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::RepoError;

/// Which of the versions on disk are served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionPolicy {
    /// The N highest version numbers.
    Latest(usize),
    All,
    /// Exactly these (those that exist).
    Specific(Vec<u64>),
}

impl Default for VersionPolicy {
    fn default() -> Self {
        VersionPolicy::Latest(1)
    }
}

impl FromStr for VersionPolicy {
    type Err = RepoError;

    /// `latest`, `latest:2`, `all`, `specific:1,3`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || RepoError::Policy(s.to_string());
        let (kind, arg) = s.split_once(':').map_or((s, None), |(k, a)| (k, Some(a)));
        match (kind.trim().to_ascii_lowercase().as_str(), arg) {
            ("latest", None) => Ok(VersionPolicy::Latest(1)),
            ("latest", Some(n)) => match n.trim().parse::<usize>() {
                Ok(n) if n > 0 => Ok(VersionPolicy::Latest(n)),
                _ => Err(bad()),
            },
            ("all", None) => Ok(VersionPolicy::All),
            ("specific", Some(list)) => {
                let versions = list
                    .split(',')
                    .map(|v| v.trim().parse::<u64>())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|_| bad())?;
                if versions.is_empty() {
                    return Err(bad());
                }
                Ok(VersionPolicy::Specific(versions))
            }
            _ => Err(bad()),
        }
    }
}

impl VersionPolicy {
    /// The chosen subset of `available` (ascending), ascending.
    pub fn select(&self, available: &[u64]) -> Vec<u64> {
        match self {
            VersionPolicy::Latest(n) => available[available.len().saturating_sub(*n)..].to_vec(),
            VersionPolicy::All => available.to_vec(),
            VersionPolicy::Specific(wanted) => available.iter().copied().filter(|v| wanted.contains(v)).collect(),
        }
    }
}

/// Version directories under `base`, ascending by number.
pub fn scan_versions(base: &Path) -> Result<Vec<(u64, PathBuf)>, RepoError> {
    let io = |source| RepoError::Io { path: base.to_path_buf(), source };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(base).map_err(io)? {
        let entry = entry.map_err(io)?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        // "1", "42"; not "+1", "01x", ".2".
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(version) = name.parse::<u64>() else { continue };
        if entry.path().is_dir() {
            out.push((version, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Changes when a file in the directory is added, removed, resized or
/// touched: a version that failed to load is retried once its files change
/// (a copy that was still in progress, a fixed file).
pub fn fingerprint(dir: &Path) -> u64 {
    let mut entries: Vec<(String, u64, Option<std::time::SystemTime>)> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter_map(|e| {
                    let meta = e.metadata().ok()?;
                    Some((e.file_name().to_string_lossy().into_owned(), meta.len(), meta.modified().ok()))
                })
                .collect()
        })
        .unwrap_or_default();
    entries.sort();
    let mut h = DefaultHasher::new();
    entries.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse_and_select() {
        let on_disk = [1, 2, 5, 7];
        assert_eq!("latest".parse::<VersionPolicy>().unwrap().select(&on_disk), vec![7]);
        assert_eq!("latest:2".parse::<VersionPolicy>().unwrap().select(&on_disk), vec![5, 7]);
        assert_eq!("latest:10".parse::<VersionPolicy>().unwrap().select(&on_disk), vec![1, 2, 5, 7]);
        assert_eq!("all".parse::<VersionPolicy>().unwrap().select(&on_disk), vec![1, 2, 5, 7]);
        assert_eq!("specific:2,3,7".parse::<VersionPolicy>().unwrap().select(&on_disk), vec![2, 7]);
        for bad in ["latest:0", "latest:x", "newest", "specific:", "specific:a", "all:3"] {
            assert!(bad.parse::<VersionPolicy>().is_err(), "{bad}");
        }
        assert!(VersionPolicy::Latest(1).select(&[]).is_empty());
    }

    #[test]
    fn scan_ignores_non_versions() {
        let dir = tempfile::tempdir().unwrap();
        for d in ["1", "10", "2", "tmp", ".3", "4x"] {
            std::fs::create_dir(dir.path().join(d)).unwrap();
        }
        std::fs::write(dir.path().join("5"), "a file, not a directory").unwrap();
        let versions: Vec<u64> = scan_versions(dir.path()).unwrap().into_iter().map(|(v, _)| v).collect();
        assert_eq!(versions, vec![1, 2, 10]);
        assert!(scan_versions(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn fingerprint_follows_files() {
        let dir = tempfile::tempdir().unwrap();
        let a = fingerprint(dir.path());
        std::fs::write(dir.path().join("model.onnx"), "x").unwrap();
        let b = fingerprint(dir.path());
        assert_ne!(a, b);
        assert_eq!(b, fingerprint(dir.path()));
        std::fs::write(dir.path().join("model.onnx"), "xy").unwrap();
        assert_ne!(b, fingerprint(dir.path()));
    }
}
