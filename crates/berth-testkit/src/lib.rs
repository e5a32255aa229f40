//! What the test suites of every crate share, so that each does not grow its own copy:
//! polling a condition until a deadline.

use std::future::Future;
use std::time::{Duration, Instant};

/// How often a condition is polled: often enough that a test waits at most this long
/// past the moment the condition holds, rarely enough not to load a two-core machine.
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Polls `check` until it yields `Some`, or gives up after `within` with `None`. The
/// last poll runs at or after the deadline, so a condition that holds just in time counts.
pub async fn poll_until<T, F, Fut>(within: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Polls `check` until it yields `Some`; panics naming `what` after `within`.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    match poll_until(within, check).await {
        Some(value) => value,
        None => panic!("timed out after {within:?} waiting for {what}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn returns_the_first_value_that_holds() {
        let calls = AtomicU32::new(0);
        let got = poll_until(Duration::from_secs(5), || {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move { (n >= 2).then_some(n) }
        })
        .await;
        assert_eq!(got, Some(2));
    }

    #[tokio::test]
    async fn gives_up_after_the_deadline() {
        let started = Instant::now();
        let got: Option<()> = poll_until(Duration::from_millis(120), || async { None }).await;
        assert_eq!(got, None);
        assert!(started.elapsed() >= Duration::from_millis(120));
    }

    #[tokio::test]
    #[should_panic(expected = "waiting for the moon")]
    async fn eventually_names_what_it_waited_for() {
        let _: () = eventually("the moon", Duration::from_millis(10), || async { None }).await;
    }
}
