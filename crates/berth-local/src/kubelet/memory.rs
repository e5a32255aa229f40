//! `resources.limits.memory` without cgroups: the kubelet polls the resident
//! memory of the container's process group and, once it is over the limit,
//! kills the group and reports `OOMKilled` as the kernel's OOM killer would
//! inside a memory cgroup.
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Container;
use nix::sys::signal::Signal;
use tokio::process::Child;

use super::process;
use super::quantity;
use super::state::Terminated;

/// How often a limited container's memory is measured. A scan of /proc costs
/// about a millisecond; four a second catch a runaway allocation before it
/// gets far past the limit without the kubelet showing up in `top`.
const POLL: Duration = Duration::from_millis(250);

/// The exit code Kubernetes reports for an OOM kill (128 + SIGKILL).
const OOM_EXIT_CODE: i32 = 137;

/// The container's memory limit in bytes; `None` when it has none. A limit
/// of 0 means none, as in the kubelet. An unparseable limit is ignored with
/// a warning rather than failing the container: the real API server rejects
/// such a pod, so it can only come from an API server that did not check,
/// and running it unlimited is what happened before limits were enforced.
pub fn limit(pod: &str, spec: &Container) -> Option<u64> {
    let limits = spec.resources.as_ref()?.limits.as_ref()?;
    let q = &limits.get("memory")?.0;
    match quantity::parse_bytes(q) {
        Some(0) => None,
        Some(bytes) => Some(bytes),
        None => {
            tracing::warn!(pod, container = %spec.name, limit = %q, "ignoring unparseable memory limit");
            None
        }
    }
}

/// A group's resident memory when it was found over its limit, in bytes.
#[derive(Debug, Clone, Copy)]
pub struct OverLimit {
    pub rss: u64,
    pub limit: u64,
}

/// Resolves once the group's resident memory exceeds `limit`; never
/// resolves for a container without a limit (it is not watched at all).
pub async fn over_limit(pgid: Option<u32>, limit: Option<u64>) -> OverLimit {
    let (Some(pgid), Some(limit)) = (pgid.and_then(|p| i32::try_from(p).ok()), limit) else {
        return std::future::pending().await;
    };
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        // Reading /proc is blocking file I/O; keep it off the async workers.
        let rss = tokio::task::spawn_blocking(move || group_rss(pgid)).await.unwrap_or(0);
        if rss > limit {
            return OverLimit { rss, limit };
        }
    }
}

/// Kills the whole group at once (the OOM killer gives no grace period) and
/// reports it the way Kubernetes does.
pub async fn oom_kill(child: &mut Child, over: OverLimit, started_at: Timestamp) -> Terminated {
    if let Some(pid) = child.id() {
        process::signal_group(pid, Signal::SIGKILL);
    }
    let _ = child.start_kill();
    let _ = child.wait().await;
    Terminated {
        exit_code: OOM_EXIT_CODE,
        reason: "OOMKilled".into(),
        message: Some(format!(
            "memory use {} MiB (resident, whole process group) exceeded the limit of {} MiB",
            over.rss >> 20,
            over.limit >> 20
        )),
        started_at: Some(started_at),
        finished_at: Timestamp::now(),
    }
}

/// Resident bytes of every process whose process group is `pgid`. Scanning
/// /proc by group (not walking children) also counts processes whose parent
/// exited, as a cgroup would. Memory shared between them (after fork) is
/// counted once per process, so this errs towards killing early.
pub fn group_rss(pgid: i32) -> u64 {
    crate::procs::all_pids()
        .filter(|pid| {
            // A process may exit between listing and reading: it uses nothing.
            std::fs::read_to_string(format!("/proc/{pid}/stat")).ok().and_then(|s| stat_pgrp(&s)) == Some(pgid)
        })
        .filter_map(process_rss)
        .sum()
}

/// Resident bytes of one process (`VmRSS`); `None` once it is gone, and for
/// zombies and kernel threads, which have none.
pub fn process_rss(pid: i32) -> Option<u64> {
    status_vm_rss(&std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
}

/// The process group (5th field) of a `/proc/<pid>/stat` line. The command
/// name in parentheses may hold spaces and parentheses, so fields are
/// counted from the last `)`.
fn stat_pgrp(stat: &str) -> Option<i32> {
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_ascii_whitespace().nth(2)?.parse().ok()
}

/// `VmRSS:  1234 kB` of `/proc/<pid>/status`, in bytes.
fn status_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    let kib: u64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::api::core::v1::ResourceRequirements;
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

    use super::*;

    #[test]
    fn parses_proc_fields() {
        let stat = "4242 (we (i)rd) S 1 4240 4240 0 -1 4194560 100 0 0 0";
        assert_eq!(stat_pgrp(stat), Some(4240));
        assert_eq!(stat_pgrp("garbage"), None);
        let status = "Name:\tsh\nVmPeak:\t    9999 kB\nVmRSS:\t    1536 kB\nRssAnon:\t 100 kB\n";
        assert_eq!(status_vm_rss(status), Some(1536 * 1024));
        assert_eq!(status_vm_rss("Name:\tkthreadd\nState:\tS (sleeping)\n"), None);
    }

    #[test]
    fn measures_this_process_and_its_group() {
        let me = i32::try_from(std::process::id()).unwrap_or(i32::MAX);
        let before = process_rss(me).unwrap_or(0);
        assert!(before > 1 << 20, "a test binary uses more than 1 MiB: {before}");
        // Touch every page so the memory is resident, not just reserved.
        let block = std::hint::black_box(vec![1u8; 64 << 20]);
        let during = process_rss(me).unwrap_or(0);
        assert!(during >= before + (60 << 20), "64 MiB more resident: {before} -> {during}");
        let group = group_rss(nix::unistd::getpgrp().as_raw());
        assert!(group >= during - (4 << 20), "the group includes this process: {group} < {during}");
        drop(block);
        assert_eq!(group_rss(i32::MAX), 0, "no such group");
    }

    fn with_limits(limits: &[(&str, &str)]) -> Container {
        let limits: BTreeMap<String, Quantity> =
            limits.iter().map(|(k, v)| (k.to_string(), Quantity(v.to_string()))).collect();
        Container {
            name: "main".into(),
            resources: Some(ResourceRequirements { limits: Some(limits), ..Default::default() }),
            ..Default::default()
        }
    }

    #[test]
    fn only_a_usable_memory_limit_is_watched() {
        assert_eq!(limit("p", &with_limits(&[("memory", "100Mi"), ("cpu", "2")])), Some(100 << 20));
        assert_eq!(limit("p", &with_limits(&[("cpu", "2")])), None);
        assert_eq!(limit("p", &with_limits(&[("memory", "0")])), None);
        assert_eq!(limit("p", &with_limits(&[("memory", "lots")])), None);
        assert_eq!(limit("p", &Container::default()), None);
    }
}
