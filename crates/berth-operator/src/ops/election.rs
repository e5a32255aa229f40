//! The leader election cycle around `LeaderElector`: stand by until this replica holds
//! the Lease, renew it in the background while the controller runs, and release it on
//! the way out so a standby takes over at once.
//!
//! Losing the Lease (another holder, or no successful renewal within its duration)
//! triggers the process's `Stop`: the controller finishes what runs and the process
//! exits, so the pod restarts as a candidate rather than reconciling beside a new
//! leader.

use std::sync::Arc;

use berth_runtime::{Health, Stop};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::ops::leader::{LeaderElector, LeaseConfig};

/// This replica holds the Lease; a task renews it until `release` or a stop.
pub struct Leadership {
    elector: Arc<LeaderElector>,
    renewal: JoinHandle<()>,
}

/// Stand by until this replica leads (`Some`) or `stop` fires first (`None`). A standby
/// is ready (`/readyz` 200): it reached the API server and is doing its job.
pub async fn lead(client: kube::Client, config: LeaseConfig, health: &Health, stop: &Stop) -> Option<Leadership> {
    let elector = Arc::new(LeaderElector::new(client, config));
    loop {
        match elector.try_acquire_or_renew().await {
            Ok(true) => break,
            Ok(false) => health.set_ready(true),
            Err(e) => tracing::warn!(error = %e, "leader election"),
        }
        if stop.is_stopped() {
            return None;
        }
        tokio::select! {
            () = tokio::time::sleep(elector.config().renew_every) => {}
            () = stop.wait() => return None,
        }
    }
    let config = elector.config();
    tracing::info!(identity = %config.identity, lease = %config.name, "became the leader");
    let renewal = tokio::spawn(renew(Arc::clone(&elector), stop.clone()));
    Some(Leadership { elector, renewal })
}

/// Renew every `renew_every` until `stop`; trigger `stop` when the Lease is lost.
async fn renew(elector: Arc<LeaderElector>, stop: Stop) {
    let mut last_renewal = Instant::now();
    loop {
        tokio::select! {
            () = tokio::time::sleep(elector.config().renew_every) => {}
            () = stop.wait() => return,
        }
        match elector.try_acquire_or_renew().await {
            Ok(true) => last_renewal = Instant::now(),
            Ok(false) => {
                tracing::error!("lost the leader lease; stopping");
                stop.trigger();
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "renewing the lease");
                if last_renewal.elapsed() >= elector.config().duration {
                    tracing::error!("could not renew the leader lease in time; stopping");
                    stop.trigger();
                    return;
                }
            }
        }
    }
}

impl Leadership {
    /// Stop renewing and give the Lease up (best effort: it expires anyway).
    pub async fn release(self) {
        self.renewal.abort();
        match self.elector.release().await {
            Ok(()) => tracing::info!("released the leader lease"),
            Err(e) => tracing::warn!(error = %e, "releasing the lease"),
        }
    }
}
