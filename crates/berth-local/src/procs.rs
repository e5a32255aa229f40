//! Process bookkeeping for `berth local`: the daemon's pid file, liveness
//! checks, and the sweep that finds pod processes by their environment.
use std::path::Path;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::kubelet::STATE_DIR_ENV;

pub fn read_pid(pid_file: &Path) -> Option<i32> {
    std::fs::read_to_string(pid_file).ok()?.trim().parse().ok()
}

pub fn alive(pid: i32) -> bool {
    // A zombie still answers signal 0; treat it as gone.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let zombie = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start().starts_with('Z')).unwrap_or(false);
    kill(Pid::from_raw(pid), None).is_ok() && !zombie
}

pub fn signal(pid: i32, sig: Signal) {
    let _ = kill(Pid::from_raw(pid), sig);
}

/// Pids whose environment has `BERTH_LOCAL_STATE_DIR=<state_dir>`: the
/// processes of pods of this cluster and anything they started.
pub fn pod_processes(state_dir: &Path) -> Vec<i32> {
    let needle = format!("{STATE_DIR_ENV}={}", state_dir.display());
    let me = std::process::id() as i32;
    all_pids()
        .filter(|pid| *pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .map(|env| env.split(|b| *b == 0).any(|kv| kv == needle.as_bytes()))
                .unwrap_or(false)
        })
        .filter(|pid| alive(*pid))
        .collect()
}

/// Every process on the machine, by its /proc entry (empty without /proc).
pub fn all_pids() -> impl Iterator<Item = i32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
}
