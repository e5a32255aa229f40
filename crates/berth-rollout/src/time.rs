//! The engine's own clock value: nanoseconds since the Unix epoch. No calendar, no
//! RFC 3339: the operator converts Kubernetes' `Time` at its edge, losslessly.

use std::time::Duration;

const NANOS_PER_SECOND: i128 = 1_000_000_000;

/// A point in time, to the nanosecond (what Kubernetes' timestamps can hold and more).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Time(i128);

impl Time {
    pub const UNIX_EPOCH: Time = Time(0);

    pub const fn from_unix_nanos(nanos: i128) -> Self {
        Self(nanos)
    }

    pub const fn from_unix_seconds(seconds: i64) -> Self {
        Self(seconds as i128 * NANOS_PER_SECOND)
    }

    pub const fn from_unix_millis(millis: i64) -> Self {
        Self(millis as i128 * 1_000_000)
    }

    pub const fn as_unix_nanos(self) -> i128 {
        self.0
    }

    /// Whole seconds since the epoch, fractions truncated toward zero.
    pub const fn as_unix_seconds(self) -> i128 {
        self.0 / NANOS_PER_SECOND
    }

    /// The time with its fraction of a second dropped (toward zero, as
    /// `jiff::Timestamp::as_second` does): Kubernetes stores times to the second.
    pub const fn whole_seconds(self) -> Self {
        Self(self.as_unix_seconds() * NANOS_PER_SECOND)
    }

    /// `self + by`, `None` past the representable range.
    pub fn checked_add(self, by: Duration) -> Option<Self> {
        i128::try_from(by.as_nanos()).ok().and_then(|n| self.0.checked_add(n)).map(Self)
    }

    /// Time from `earlier` to `self`, zero when `earlier` lies ahead.
    pub fn since(self, earlier: Time) -> Duration {
        to_duration(self.0.saturating_sub(earlier.0).max(0))
    }

    /// The distance between two times, whichever comes first.
    pub fn abs_diff(self, other: Time) -> Duration {
        to_duration(self.0.abs_diff(other.0).try_into().unwrap_or(i128::MAX))
    }
}

fn to_duration(nanos: i128) -> Duration {
    {
        let seconds = u64::try_from(nanos / NANOS_PER_SECOND).unwrap_or(u64::MAX);
        // The remainder of a division by 1e9 always fits.
        let rest = u32::try_from(nanos % NANOS_PER_SECOND).unwrap_or(0);
        Duration::new(seconds, rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_seconds_truncates_toward_zero() {
        let t = Time::from_unix_millis(1_500);
        assert_eq!(t.whole_seconds(), Time::from_unix_seconds(1));
        assert_eq!(Time::from_unix_millis(-1_500).whole_seconds(), Time::from_unix_seconds(-1));
        assert_eq!(Time::from_unix_seconds(7).whole_seconds(), Time::from_unix_seconds(7));
    }

    #[test]
    fn durations_add_and_subtract() {
        let t = Time::from_unix_seconds(100);
        let later = t.checked_add(Duration::from_millis(2_500));
        assert_eq!(later, Some(Time::from_unix_millis(102_500)));
        assert_eq!(later.map(|l| l.since(t)), Some(Duration::from_millis(2_500)));
        assert_eq!(t.since(Time::from_unix_seconds(200)), Duration::ZERO);
        assert!(Time::from_unix_seconds(1) > Time::UNIX_EPOCH);
    }
}
