//! A version's name. TF Serving's layout uses numbers; BertModel versions are
//! DNS labels ("3", "v3", "2024-06-canary"). Numbers order numerically and
//! before names, names order as text, so "newest" means the highest number.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VersionId(String);

#[derive(Debug, thiserror::Error)]
#[error("invalid version name {0:?}: use 1-63 letters, digits, '-', '_' or '.', not starting with '.'")]
pub struct InvalidVersion(pub String);

impl InvalidVersion {
    pub fn category(&self) -> &'static str {
        "invalid_version"
    }
}

impl VersionId {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number, when the name is all digits.
    pub fn number(&self) -> Option<u64> {
        if self.0.bytes().all(|b| b.is_ascii_digit()) { self.0.parse().ok() } else { None }
    }
}

impl FromStr for VersionId {
    type Err = InvalidVersion;

    /// Also a directory name, so nothing that could leave the base path.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = !s.is_empty()
            && s.len() <= 63
            && !s.starts_with('.')
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if ok { Ok(VersionId(s.to_string())) } else { Err(InvalidVersion(s.to_string())) }
    }
}

impl From<u64> for VersionId {
    fn from(n: u64) -> Self {
        VersionId(n.to_string())
    }
}

impl fmt::Display for VersionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Ord for VersionId {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self.number(), other.number()) {
            (Some(a), Some(b)) => a.cmp(&b).then_with(|| self.0.cmp(&other.0)),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => self.0.cmp(&other.0),
        }
    }
}

impl PartialOrd for VersionId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> VersionId {
        s.parse().unwrap()
    }

    #[test]
    fn numbers_order_numerically_then_names() {
        let mut list = [v("10"), v("canary"), v("2"), v("1"), v("alpha")];
        list.sort();
        let names: Vec<&str> = list.iter().map(VersionId::as_str).collect();
        assert_eq!(names, ["1", "2", "10", "alpha", "canary"]);
        assert_eq!(v("7").number(), Some(7));
        assert_eq!(v("v7").number(), None);
    }

    #[test]
    fn names_that_could_escape_are_invalid() {
        for bad in ["", "..", "../x", "a/b", ".hidden", "sp ace", &"x".repeat(64)] {
            assert!(bad.parse::<VersionId>().is_err(), "{bad}");
        }
    }
}
