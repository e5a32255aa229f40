//! Volume mounts. With mount namespaces (root, util-linux `unshare`), each
//! container runs in a private mount namespace where every volume is bind
//! mounted at its `mountPath`, so pod specs keep their absolute paths
//! (`/var/run/secrets/kubernetes.io/serviceaccount`, `/models`, ...). The
//! process still sees the rest of the host filesystem: this is not a chroot.
//! Missing mount points are created on the host as empty directories or files
//! (as a container runtime creates them in the image) and removed again when
//! the kubelet stops, if still empty.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{Container, Pod};

use crate::error::{Error, Result};

pub const SERVICE_ACCOUNT_MOUNT: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub source: PathBuf,
    pub target: PathBuf,
    pub read_only: bool,
}

/// The mounts of one container. `sa_dir` holds the automatically mounted
/// ServiceAccount token, which the real API server's admission adds.
pub fn plan(
    pod: &Pod,
    container: &Container,
    volume_dirs: &BTreeMap<String, PathBuf>,
    sa_dir: &Path,
) -> Result<Vec<Mount>> {
    let mut out = Vec::new();
    for vm in container.volume_mounts.iter().flatten() {
        let base = volume_dirs
            .get(&vm.name)
            .ok_or_else(|| Error::ContainerConfig(format!("volumeMount {:?}: no volume of that name", vm.name)))?;
        let mut source = base.clone();
        if let Some(sub) = vm.sub_path.as_deref().filter(|s| !s.is_empty()) {
            if sub.split('/').any(|c| c == "..") {
                return Err(Error::ContainerConfig(format!("subPath {sub:?} is not allowed")));
            }
            source = base.join(sub);
        }
        if !Path::new(&vm.mount_path).is_absolute() {
            return Err(Error::ContainerConfig(format!("mountPath {:?} must be absolute", vm.mount_path)));
        }
        out.push(Mount { source, target: PathBuf::from(&vm.mount_path), read_only: vm.read_only == Some(true) });
    }
    let automount = pod.spec.as_ref().and_then(|s| s.automount_service_account_token).unwrap_or(true);
    if automount && !out.iter().any(|m| m.target == Path::new(SERVICE_ACCOUNT_MOUNT)) {
        out.push(Mount { source: sa_dir.to_path_buf(), target: PathBuf::from(SERVICE_ACCOUNT_MOUNT), read_only: true });
    }
    Ok(out)
}

/// Creates missing mount points; returns what it created, deepest last, so
/// the caller can remove them later.
pub fn create_mount_points(mounts: &[Mount]) -> Vec<PathBuf> {
    let mut created = Vec::new();
    for m in mounts {
        let is_file = m.source.is_file();
        let mut missing = Vec::new();
        let mut p = m.target.as_path();
        while !p.exists() {
            missing.push(p.to_path_buf());
            match p.parent() {
                Some(parent) => p = parent,
                None => break,
            }
        }
        for (i, path) in missing.iter().rev().enumerate() {
            let last = i + 1 == missing.len();
            let ok =
                if last && is_file { std::fs::write(path, b"").is_ok() } else { std::fs::create_dir(path).is_ok() };
            if ok {
                created.push(path.clone());
            }
        }
    }
    created
}

/// Removes mount points made by `create_mount_points` that are still empty
/// and not mounted on in any process's namespace (another berth-local may
/// share a path such as the ServiceAccount mount).
pub fn remove_mount_points(created: &[PathBuf]) {
    let busy = mounted_paths();
    for p in created.iter().rev() {
        if busy.contains(p) {
            continue;
        }
        if p.is_dir() {
            let _ = std::fs::remove_dir(p);
        } else if std::fs::metadata(p).map(|m| m.len() == 0).unwrap_or(false) {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Every mount point of every process's mount namespace.
fn mounted_paths() -> std::collections::BTreeSet<PathBuf> {
    let mut out = std::collections::BTreeSet::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in entries.flatten() {
        if !e.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(info) = std::fs::read_to_string(e.path().join("mountinfo")) else {
            continue;
        };
        for line in info.lines() {
            if let Some(mp) = line.split(' ').nth(4) {
                out.insert(PathBuf::from(mp.replace("\\040", " ")));
            }
        }
    }
    out
}

/// Pods here share the host's filesystem (a container would have its own root), so a
/// volume mounted over a host directory hides what the host keeps there. Orders the
/// mounts so that none hides the source of a later one, and refuses a mount that would
/// hide the container's own program, with a message that says so.
pub fn order_for(mounts: &[Mount], program: &Path) -> Result<Vec<Mount>> {
    if program.is_absolute()
        && let Some(m) = mounts.iter().find(|m| program.starts_with(&m.target))
    {
        return Err(Error::ContainerConfig(format!(
            "mountPath {} would hide the image binary {} (berth-local pods share the host filesystem; \
             mount the volume elsewhere)",
            m.target.display(),
            program.display()
        )));
    }
    let mut rest = mounts.to_vec();
    let mut ordered = Vec::with_capacity(rest.len());
    while !rest.is_empty() {
        // Next: a mount whose target hides no other remaining mount's source.
        let next = (0..rest.len())
            .find(|&i| !rest.iter().enumerate().any(|(j, o)| j != i && o.source.starts_with(&rest[i].target)));
        let Some(i) = next else {
            return Err(Error::ContainerConfig(format!(
                "volume mounts hide each other's sources on this host: {}",
                rest.iter().map(|m| m.target.display().to_string()).collect::<Vec<_>>().join(", ")
            )));
        };
        ordered.push(rest.remove(i));
    }
    Ok(ordered)
}

/// Wraps `program args` so it starts inside a private mount namespace with
/// `mounts` in place. `unshare` and `sh` exec into the program, so the pid
/// the kubelet signals is the container's own process.
pub fn wrap(mounts: &[Mount], program: &str, args: &[String]) -> (String, Vec<String>) {
    let mut script = String::from("set -e\n");
    for m in mounts {
        let src = quote(&m.source.to_string_lossy());
        let dst = quote(&m.target.to_string_lossy());
        script.push_str(&format!("mount --bind {src} {dst}\n"));
        if m.read_only {
            script.push_str(&format!("mount -o remount,bind,ro {dst}\n"));
        }
    }
    script.push_str("exec \"$@\"\n");
    let mut out = vec![
        "--mount".to_string(),
        "--propagation".to_string(),
        "private".to_string(),
        "--".to_string(),
        "/bin/sh".to_string(),
        "-c".to_string(),
        script,
        "berth-container".to_string(),
        program.to_string(),
    ];
    out.extend(args.iter().cloned());
    ("unshare".to_string(), out)
}

/// Single-quotes a string for sh.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Whether this process can make private mount namespaces (root with a
/// working `unshare`). Checked once at kubelet start.
pub fn namespaces_available() -> bool {
    std::process::Command::new("unshare")
        .args(["--mount", "--propagation", "private", "true"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_with_bind_mounts_and_quotes() {
        let m = vec![Mount { source: PathBuf::from("/state/it's"), target: PathBuf::from("/models"), read_only: true }];
        let (p, a) = wrap(&m, "/bin/echo", &["hi".to_string()]);
        assert_eq!(p, "unshare");
        assert!(a[6].contains("mount --bind '/state/it'\\''s' '/models'"));
        assert!(a[6].contains("remount,bind,ro"));
        assert_eq!(&a[8..], &["/bin/echo".to_string(), "hi".to_string()]);
    }

    fn mount(source: &str, target: &str) -> Mount {
        Mount { source: PathBuf::from(source), target: PathBuf::from(target), read_only: false }
    }

    #[test]
    fn a_mount_over_another_mounts_source_goes_last() -> Result<()> {
        let over_tmp = mount("/state/pod/volumes/tmp", "/tmp");
        let from_tmp = mount("/tmp/checkout/state/pod/volumes/cache", "/var/cache/berth");
        let ordered = order_for(&[over_tmp.clone(), from_tmp.clone()], Path::new("/usr/bin/app"))?;
        assert_eq!(ordered, vec![from_tmp, over_tmp]);
        Ok(())
    }

    #[test]
    fn a_mount_that_hides_the_program_is_refused() {
        let err = order_for(&[mount("/state/v", "/tmp")], Path::new("/tmp/checkout/target/debug/berth-serve"));
        let message = err.map(|_| ()).unwrap_err().to_string();
        assert!(message.contains("mountPath /tmp would hide the image binary"), "{message}");
    }

    #[test]
    fn plan_adds_service_account_mount() -> Result<()> {
        let pod = Pod::default();
        let c = Container::default();
        let m = plan(&pod, &c, &BTreeMap::new(), Path::new("/sa"))?;
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].target, PathBuf::from(SERVICE_ACCOUNT_MOUNT));
        Ok(())
    }
}
