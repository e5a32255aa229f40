//! A model repository: version N is the directory `{path}/N/`. On berth-local the pods
//! see the host's filesystem, so versions may be symlinks; on a cluster the repository
//! is a hostPath volume, whose pods cannot follow links out of it, so versions are
//! hard links (copies across filesystems), readable by the pods' non-root user.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

pub struct Repo {
    pub path: PathBuf,
    /// Versions must be real files (the cluster ground).
    materialize: bool,
}

impl Repo {
    pub fn new(path: PathBuf, materialize: bool) -> Repo {
        std::fs::create_dir_all(&path).unwrap();
        set_mode(&path, 0o755);
        Repo { path, materialize }
    }

    /// `version` is the directory `source`: a link, or hard links to its files.
    pub fn link(&self, version: &str, source: &Path) {
        assert!(source.is_dir(), "{} is missing: run `make models operator-fault-models`", source.display());
        if !self.materialize {
            std::os::unix::fs::symlink(source, self.path.join(version)).unwrap();
            return;
        }
        let dir = self.version_dir(version);
        for entry in std::fs::read_dir(source).unwrap() {
            let from = entry.unwrap().path();
            let to = dir.join(from.file_name().unwrap());
            if from.is_dir() {
                self.link(&format!("{version}/{}", to.file_name().unwrap().to_string_lossy()), &from);
            } else if std::fs::hard_link(&from, &to).is_ok() {
                // The link shares the source's mode: make sure others may read it.
                let mode = std::fs::metadata(&to).unwrap().permissions().mode();
                set_mode(&to, (mode & 0o7777) | 0o444);
            } else {
                std::fs::copy(&from, &to).unwrap();
                set_mode(&to, 0o644);
            }
        }
    }

    /// `version` is a copy of `source` whose files the test may then alter (never
    /// links: altering them must not touch the source).
    pub fn copy(&self, version: &str, source: &Path) -> PathBuf {
        let dir = self.version_dir(version);
        for entry in std::fs::read_dir(source).unwrap() {
            let entry = entry.unwrap();
            let to = dir.join(entry.file_name());
            std::fs::copy(entry.path(), &to).unwrap();
            set_mode(&to, 0o644);
        }
        dir
    }

    fn version_dir(&self, version: &str) -> PathBuf {
        let dir = self.path.join(version);
        std::fs::create_dir_all(&dir).unwrap();
        set_mode(&dir, 0o755);
        dir
    }
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}
