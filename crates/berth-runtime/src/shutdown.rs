//! Shutdown: SIGTERM (what Kubernetes sends) or SIGINT (Ctrl-C), and a stop signal
//! shared by the tasks of a process.

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use tokio::sync::watch;

/// Resolves on the first SIGTERM or SIGINT. Where SIGTERM cannot be listened for, only
/// SIGINT stops the process (and a warning says so).
pub async fn terminated() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM received"),
                    _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
                }
                return;
            }
            Err(e) => tracing::warn!(error = %e, "cannot listen for SIGTERM; only SIGINT stops the process"),
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    tracing::info!("SIGINT received");
}

/// A stop signal: any holder may trigger it (a signal, a lost lease), every task may
/// wait on it, and a late waiter sees it at once.
#[derive(Debug, Clone)]
pub struct Stop {
    tx: watch::Sender<bool>,
}

impl Default for Stop {
    fn default() -> Self {
        Self::new()
    }
}

impl Stop {
    pub fn new() -> Self {
        Self { tx: watch::Sender::new(false) }
    }

    /// A Stop triggered by SIGTERM/SIGINT (a task waits for them).
    pub fn on_signals() -> Self {
        let stop = Self::new();
        let trigger = stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = terminated() => trigger.trigger(),
                () = trigger.wait() => {}
            }
        });
        stop
    }

    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }

    pub fn is_stopped(&self) -> bool {
        *self.tx.borrow()
    }

    /// Resolves once triggered.
    pub async fn wait(&self) {
        let mut rx = self.tx.subscribe();
        let _ = rx.wait_for(|stopped| *stopped).await;
    }

    /// The same as [`Stop::wait`], as a cloneable future (kube-runtime's
    /// `graceful_shutdown_on` and axum's graceful shutdown take one by value).
    pub fn future(&self) -> Shared<BoxFuture<'static, ()>> {
        let stop = self.clone();
        async move { stop.wait().await }.boxed().shared()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn every_waiter_sees_a_trigger_even_a_late_one() {
        let stop = Stop::new();
        let early = tokio::spawn({
            let stop = stop.clone();
            async move { stop.wait().await }
        });
        assert!(!stop.is_stopped());
        stop.clone().trigger();
        assert!(tokio::time::timeout(Duration::from_secs(5), early).await.is_ok());
        assert!(stop.is_stopped());
        assert!(tokio::time::timeout(Duration::from_secs(5), stop.future()).await.is_ok());
    }
}
