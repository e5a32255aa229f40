//! What the kubelet knows about a running pod, shared between the pod worker
//! (which writes `status`) and its container tasks (which change it).
use std::sync::{Arc, Mutex, MutexGuard};

use jiff::Timestamp;
use tokio::sync::Notify;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CState {
    Waiting { reason: String, message: Option<String> },
    Running { started_at: Timestamp },
    Terminated(Terminated),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terminated {
    pub exit_code: i32,
    pub reason: String,
    pub message: Option<String>,
    pub started_at: Option<Timestamp>,
    pub finished_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct ContainerRuntime {
    pub name: String,
    pub image: String,
    pub state: CState,
    pub last_terminated: Option<Terminated>,
    pub ready: bool,
    pub started: bool,
    pub restart_count: i32,
    pub pid: Option<u32>,
    /// The container will not run again (restartPolicy said so).
    pub done: bool,
    /// Set once the process has started at least once.
    pub ever_ran: bool,
    /// Init containers run to completion before the others start.
    pub init: bool,
}

impl ContainerRuntime {
    pub fn new(name: &str, image: &str, init: bool) -> Self {
        ContainerRuntime {
            name: name.to_string(),
            image: image.to_string(),
            state: CState::Waiting { reason: "ContainerCreating".into(), message: None },
            last_terminated: None,
            ready: false,
            started: false,
            restart_count: 0,
            pid: None,
            done: false,
            ever_ran: false,
            init,
        }
    }
}

#[derive(Debug)]
pub struct PodRuntime {
    pub pod_ip: String,
    pub start_time: Timestamp,
    pub containers: Vec<ContainerRuntime>,
    /// Set when the pod could not be set up (bad volume, missing ConfigMap).
    pub setup_error: Option<(String, String)>,
    /// Last time the Ready condition changed, for the condition's timestamp.
    pub ready_since: Option<(bool, Timestamp)>,
}

/// The runtime state plus a Notify that wakes the status writer.
#[derive(Debug, Clone)]
pub struct Shared {
    inner: Arc<Mutex<PodRuntime>>,
    pub changed: Arc<Notify>,
}

impl Shared {
    pub fn new(rt: PodRuntime) -> Self {
        Shared { inner: Arc::new(Mutex::new(rt)), changed: Arc::new(Notify::new()) }
    }

    /// Locks the state; a poisoned lock still holds usable data (a panicking
    /// container task cannot leave it half-written in a way that matters).
    pub fn lock(&self) -> MutexGuard<'_, PodRuntime> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Changes one container and wakes the status writer.
    pub fn update(&self, idx: usize, f: impl FnOnce(&mut ContainerRuntime)) {
        {
            let mut g = self.lock();
            if let Some(c) = g.containers.get_mut(idx) {
                f(c);
            }
        }
        self.changed.notify_one();
    }

    /// The restart count of the named container (0 if unknown).
    pub fn container_restart_count(&self, name: &str) -> i32 {
        self.lock().containers.iter().find(|c| c.name == name).map(|c| c.restart_count).unwrap_or(0)
    }

    pub fn container(&self, idx: usize) -> Option<ContainerRuntime> {
        self.lock().containers.get(idx).cloned()
    }
}
