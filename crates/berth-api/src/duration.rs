//! Durations written the way Kubernetes and Go write them ("30s", "2ms", "1h30m").
//!
//! A newtype rather than `std::time::Duration` so the CRD schema carries the pattern
//! and the API server rejects "30 seconds" before the operator ever sees it.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The pattern the CRD schema enforces: one or more `<number><unit>` groups.
pub const DURATION_PATTERN: &str = r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$";

/// A parsed Go-style duration that serialises back to its canonical text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct KubeDuration(pub Duration);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?}: {problem} (expected e.g. \"500ms\", \"30s\", \"5m\", \"1h30m\")")]
pub struct DurationParseError {
    pub input: String,
    pub problem: &'static str,
}

impl KubeDuration {
    pub const fn from_millis(ms: u64) -> Self {
        Self(Duration::from_millis(ms))
    }
    pub const fn from_secs(s: u64) -> Self {
        Self(Duration::from_secs(s))
    }
    pub fn as_duration(&self) -> Duration {
        self.0
    }

    pub fn parse(input: &str) -> Result<Self, DurationParseError> {
        let err = |problem| DurationParseError { input: input.to_string(), problem };
        if input.is_empty() {
            return Err(err("empty"));
        }
        let mut total_nanos: f64 = 0.0;
        let mut rest = input;
        while !rest.is_empty() {
            let number_len =
                rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(|| err("missing unit"))?;
            if number_len == 0 {
                return Err(err("missing number"));
            }
            let number: f64 = rest[..number_len].parse().map_err(|_| err("bad number"))?;
            rest = &rest[number_len..];
            let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
            let nanos_per_unit = match &rest[..unit_len] {
                "ns" => 1.0,
                "us" | "µs" => 1e3,
                "ms" => 1e6,
                "s" => 1e9,
                "m" => 60e9,
                "h" => 3600e9,
                _ => return Err(err("unknown unit")),
            };
            total_nanos += number * nanos_per_unit;
            rest = &rest[unit_len..];
        }
        if !total_nanos.is_finite() || total_nanos > u64::MAX as f64 {
            return Err(err("too large"));
        }
        Ok(Self(Duration::from_nanos(total_nanos.round() as u64)))
    }
}

impl KubeDuration {
    /// A duration on a command line: [`parse`](Self::parse)'s text, or a bare
    /// number meaning milliseconds (berth-serve's `--max_batch_delay=5` has always
    /// meant 5 ms). The CRD stays strict; only flags take the bare number.
    pub fn parse_flag(input: &str) -> Result<Self, DurationParseError> {
        let input = input.trim();
        if !input.is_empty() && input.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return Self::parse(&format!("{input}ms"));
        }
        Self::parse(input)
    }
}

impl std::str::FromStr for KubeDuration {
    type Err = DurationParseError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        Self::parse(input)
    }
}

impl fmt::Display for KubeDuration {
    /// Canonical, lossless text: the largest unit that divides the value exactly.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.0.as_nanos();
        if nanos == 0 {
            return f.write_str("0s");
        }
        const UNITS: [(u128, &str); 6] = [
            (3_600_000_000_000, "h"),
            (60_000_000_000, "m"),
            (1_000_000_000, "s"),
            (1_000_000, "ms"),
            (1_000, "us"),
            (1, "ns"),
        ];
        for (size, unit) in UNITS {
            if nanos.is_multiple_of(size) {
                return write!(f, "{}{unit}", nanos / size);
            }
        }
        write!(f, "{nanos}ns")
    }
}

impl Serialize for KubeDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for KubeDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for KubeDuration {
    fn schema_name() -> Cow<'static, str> {
        "KubeDuration".into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": DURATION_PATTERN,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        let cases = [
            ("2ms", Duration::from_millis(2)),
            ("30s", Duration::from_secs(30)),
            ("5m", Duration::from_secs(300)),
            ("1h30m", Duration::from_secs(5400)),
            ("1.5s", Duration::from_millis(1500)),
            ("250us", Duration::from_micros(250)),
            ("0s", Duration::ZERO),
        ];
        for (text, expected) in cases {
            assert_eq!(KubeDuration::parse(text).map(|d| d.0), Ok(expected), "{text}");
        }
    }

    #[test]
    fn rejects_bad_text() {
        for bad in ["", "30", "s", "30 seconds", "5d", "-1s", "1.2.3s"] {
            assert!(KubeDuration::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn flags_take_bare_milliseconds() {
        let flag = |s: &str| KubeDuration::parse_flag(s).map(|d| d.0);
        assert_eq!(flag("5"), Ok(Duration::from_millis(5)));
        assert_eq!(flag("0"), Ok(Duration::ZERO));
        assert_eq!(flag(" 2ms "), Ok(Duration::from_millis(2)));
        assert_eq!(flag("500us"), Ok(Duration::from_micros(500)));
        for bad in ["", "2 parsecs", "-1ms", "1.2.3"] {
            assert!(flag(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn displays_canonically_and_round_trips() {
        for (text, canonical) in [("1500ms", "1500ms"), ("90s", "90s"), ("120s", "2m"), ("1h30m", "90m")] {
            let parsed = KubeDuration::parse(text).expect("valid");
            assert_eq!(parsed.to_string(), canonical);
            assert_eq!(KubeDuration::parse(canonical).expect("valid"), parsed);
        }
    }

    #[test]
    fn pattern_agrees_with_parser_on_samples() {
        // The schema pattern and the parser must accept the same language on common input.
        let pattern_ok = |s: &str| {
            !s.is_empty()
                && s.chars().all(|c| c.is_ascii_digit() || ".nsuµmh".contains(c))
                && KubeDuration::parse(s).is_ok()
        };
        for s in ["2ms", "30s", "1h30m", "1.5s"] {
            assert!(pattern_ok(s));
        }
    }
}
