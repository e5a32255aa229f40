//! Restart back-off: Kubernetes waits 10s, 20s, 40s ... up to 5m between
//! restarts of a crashing container and forgets the crashes once a container
//! has run for 10 minutes. The base is configurable so tests can run fast.
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { base: Duration::from_secs(10), max: Duration::from_secs(300) }
    }
}

impl Backoff {
    /// Delay before restart number `n` of a run of crashes (1-based). The
    /// first restart is immediate, as the kubelet does it.
    pub fn delay(&self, n: u32) -> Duration {
        if n <= 1 {
            return Duration::ZERO;
        }
        let factor = 1u32.checked_shl(n.saturating_sub(2).min(30)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.max)
    }

    /// How long a container must run for its crash count to reset.
    pub fn reset_after(&self) -> Duration {
        (self.max * 2).max(Duration::from_secs(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_the_cap() {
        let b = Backoff::default();
        assert_eq!(b.delay(1), Duration::ZERO);
        assert_eq!(b.delay(2), Duration::from_secs(10));
        assert_eq!(b.delay(3), Duration::from_secs(20));
        assert_eq!(b.delay(7), Duration::from_secs(300));
        assert_eq!(b.delay(100), Duration::from_secs(300));
    }
}
