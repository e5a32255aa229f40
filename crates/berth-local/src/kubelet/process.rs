//! Starting and signalling container processes.
use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

use super::expand::expand;
use super::mounts::{Mount, order_for, wrap};
use crate::error::{Error, Result};
use crate::network::PodNetns;

/// Resolved argv for a container, Kubernetes style: `command` replaces the
/// image entrypoint (the mapped binary), `args` replace its default args
/// (`image_args`, the image's `CMD`, used only when neither is set).
/// A `command[0]` naming the image's binary by file name (`/berth-serve`)
/// means the mapped binary; any other command runs from the host PATH.
pub fn argv(
    binary: &Path,
    image_args: &[String],
    command: Option<&[String]>,
    args: Option<&[String]>,
    env: &BTreeMap<String, String>,
) -> Vec<String> {
    let command = command.filter(|c| !c.is_empty());
    let args = match (command, args) {
        (None, None) => image_args,
        (_, args) => args.unwrap_or_default(),
    };
    let args: Vec<String> = args.iter().map(|a| expand(a, env)).collect();
    let mut out = Vec::new();
    match command {
        Some(cmd) => {
            let first = expand(&cmd[0], env);
            let same = Path::new(&first).file_name() == binary.file_name();
            out.push(if same { binary.to_string_lossy().into_owned() } else { first });
            out.extend(cmd[1..].iter().map(|c| expand(c, env)));
        }
        None => out.push(binary.to_string_lossy().into_owned()),
    }
    out.extend(args);
    out
}

pub struct Spawn<'a> {
    pub argv: &'a [String],
    pub env: &'a BTreeMap<String, String>,
    pub working_dir: &'a Path,
    pub log_file: &'a Path,
    /// `Some` runs the process in a private mount namespace with these mounts.
    pub mounts: Option<&'a [Mount]>,
    /// `Some` runs it in the pod's network namespace.
    pub netns: Option<&'a PodNetns>,
}

/// Starts the process in its own process group (so signals reach whatever it
/// forks, like a container's PID namespace would), with a clean environment,
/// stdout and stderr appended to the log file.
pub fn spawn(s: &Spawn<'_>) -> Result<Child> {
    let (first, rest) = s.argv.split_first().ok_or_else(|| Error::ContainerConfig("empty command".into()))?;
    let (program, args) = match s.mounts {
        Some(m) => wrap(&order_for(m, Path::new(first))?, first, rest),
        None => (first.clone(), rest.to_vec()),
    };
    // nsenter, then unshare, exec in turn: the pid stays the container's.
    let (program, args) = match s.netns {
        Some(n) => n.wrap(&program, &args),
        None => (program, args),
    };
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(s.log_file)
        .map_err(|e| Error::io(format!("open log {}", s.log_file.display()), e))?;
    let log2 = log.try_clone().map_err(|e| Error::io("clone log handle", e))?;
    let mut cmd = Command::new(&program);
    cmd.args(&args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into()))
        .env("HOME", "/root")
        .envs(s.env)
        .current_dir(s.working_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log2))
        .process_group(0)
        .kill_on_drop(false);
    cmd.spawn().map_err(|e| Error::ContainerConfig(format!("starting {first:?}: {e}")))
}

pub fn signal_group(pid: u32, sig: Signal) {
    if let Ok(p) = i32::try_from(pid) {
        // The group may be gone already; that is the outcome we want.
        let _ = killpg(Pid::from_raw(p), sig);
    }
}

/// Exit code as Kubernetes reports it: 128+signal for signalled processes.
pub fn exit_code(status: &ExitStatus) -> i32 {
    status.code().or_else(|| status.signal().map(|s| 128 + s)).unwrap_or(-1)
}

pub fn working_dir(container_dir: Option<&str>, pod_dir: &Path) -> PathBuf {
    match container_dir {
        Some(d) if Path::new(d).is_dir() => PathBuf::from(d),
        _ => pod_dir.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_follows_kubernetes_rules() {
        let env = BTreeMap::from([("IP".to_string(), "127.1.0.2".to_string())]);
        let bin = Path::new("/build/berth-serve");
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(argv(bin, &[], None, None, &env), s(&["/build/berth-serve"]));
        assert_eq!(
            argv(bin, &[], None, Some(&s(&["--bind", "$(IP)"])), &env),
            s(&["/build/berth-serve", "--bind", "127.1.0.2"])
        );
        assert_eq!(
            argv(bin, &[], Some(&s(&["/berth-serve", "run"])), Some(&s(&["-v"])), &env),
            s(&["/build/berth-serve", "run", "-v"])
        );
        assert_eq!(
            argv(bin, &[], Some(&s(&["sh", "-c", "echo $(IP)"])), None, &env),
            s(&["sh", "-c", "echo 127.1.0.2"])
        );
        // The image's CMD only when the container sets neither command nor args.
        let cmd = s(&["run", "--metrics-bind", "0.0.0.0:8080"]);
        assert_eq!(
            argv(bin, &cmd, None, None, &env),
            s(&["/build/berth-serve", "run", "--metrics-bind", "0.0.0.0:8080"])
        );
        assert_eq!(argv(bin, &cmd, None, Some(&s(&["x"])), &env), s(&["/build/berth-serve", "x"]));
        assert_eq!(argv(bin, &cmd, Some(&s(&["sh"])), None, &env), s(&["sh"]));
    }
}
