//! The routing table: an immutable snapshot of the AVAILABLE versions and
//! their weights, swapped whole on every change so the request path takes a
//! read lock only long enough to clone an `Arc`. Generic over the version
//! handle so the split is tested without loading models.

use std::collections::BTreeMap;

use berth_api::TrafficTarget;

use super::VersionId;

#[derive(Debug)]
pub struct Routing<T> {
    /// Every AVAILABLE version, for explicit version requests.
    pub available: BTreeMap<VersionId, T>,
    /// Versions that get default traffic, with cumulative weights; empty
    /// means everything goes to `default`.
    weighted: Vec<(f64, VersionId, T)>,
    /// Where default traffic goes when no weight applies.
    default: Option<(VersionId, T)>,
}

impl<T> Default for Routing<T> {
    fn default() -> Self {
        Self { available: BTreeMap::new(), weighted: Vec::new(), default: None }
    }
}

impl<T: Clone> Routing<T> {
    /// `weights`: (version, weight) for default traffic (versions that are
    /// not in `available` get nothing); `default`: where traffic goes when
    /// no available version has a positive weight.
    ///
    /// The split is `berth_api::effective_weights`, the rule the operator's
    /// tests and the API document: one implementation, not a copy of it.
    pub fn new(available: BTreeMap<VersionId, T>, weights: &[(VersionId, f64)], default: Option<VersionId>) -> Self {
        // A negative or non-finite weight is no traffic (the operator never writes
        // one; a hand-edited status must not turn into a negative share).
        let table: Vec<TrafficTarget> = weights
            .iter()
            .filter(|(_, w)| *w > 0.0 && w.is_finite())
            .map(|(v, w)| TrafficTarget { version: v.as_str().to_string(), weight: *w })
            .collect();
        let handle = |name: &str| available.iter().find(|(v, _)| v.as_str() == name);
        let mut total = 0.0;
        let mut weighted = Vec::new();
        for target in berth_api::effective_weights(&table, |name| handle(name).is_some()) {
            if let Some((v, h)) = handle(&target.version)
                && target.weight > 0.0
            {
                total += target.weight;
                weighted.push((total, v.clone(), h.clone()));
            }
        }
        let default = default.and_then(|v| available.get(&v).map(|h| (v.clone(), h.clone())));
        Self { available, weighted, default }
    }

    /// The version for a request without an explicit version; `draw` is
    /// uniform in [0, 1).
    pub fn pick(&self, draw: f64) -> Option<&T> {
        match self.weighted.last() {
            Some((total, _, _)) => {
                let target = draw * total;
                self.weighted
                    .iter()
                    .find(|(cumulative, _, _)| target < *cumulative)
                    .or(self.weighted.last())
                    .map(|(_, _, h)| h)
            }
            None => self.default.as_ref().map(|(_, h)| h),
        }
    }

    /// Current default-traffic share of each version, in percent.
    pub fn shares(&self) -> BTreeMap<VersionId, f64> {
        let mut out: BTreeMap<VersionId, f64> = self.available.keys().map(|v| (v.clone(), 0.0)).collect();
        match self.weighted.last() {
            Some((total, _, _)) => {
                let mut prev = 0.0;
                for (cumulative, v, _) in &self.weighted {
                    out.insert(v.clone(), (cumulative - prev) / total * 100.0);
                    prev = *cumulative;
                }
            }
            None => {
                if let Some((v, _)) = &self.default {
                    out.insert(v.clone(), 100.0);
                }
            }
        }
        out
    }

    /// The version taking the largest share of default traffic (the newest
    /// of equal shares): what the `stable` label means when nobody set it.
    /// Without weights, the default (the newest AVAILABLE in standalone mode).
    pub fn main_version(&self) -> Option<&VersionId> {
        let mut best: Option<(f64, &VersionId)> = None;
        let mut prev = 0.0;
        for (cumulative, v, _) in &self.weighted {
            let share = cumulative - prev;
            prev = *cumulative;
            if best.is_none_or(|(b, _)| share >= b) {
                best = Some((share, v));
            }
        }
        best.map(|(_, v)| v).or(self.default.as_ref().map(|(v, _)| v))
    }

    pub fn is_ready(&self) -> bool {
        !self.available.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manager::VersionId;

    fn avail(vs: &[u64]) -> BTreeMap<VersionId, u64> {
        vs.iter().map(|&v| (VersionId::from(v), v)).collect()
    }

    fn w(list: &[(u64, f64)]) -> Vec<(VersionId, f64)> {
        list.iter().map(|&(v, w)| (VersionId::from(v), w)).collect()
    }

    fn d(v: u64) -> Option<VersionId> {
        Some(VersionId::from(v))
    }

    fn share(r: &Routing<u64>, v: u64) -> f64 {
        r.shares()[&VersionId::from(v)]
    }

    #[test]
    fn default_takes_everything_without_weights() {
        let r = Routing::new(avail(&[1, 2]), &[], d(2));
        assert_eq!(r.pick(0.0), Some(&2));
        assert_eq!(r.pick(0.99), Some(&2));
        assert_eq!(share(&r, 1), 0.0);
        assert_eq!(share(&r, 2), 100.0);
    }

    #[test]
    fn weights_split_requests() {
        let r = Routing::new(avail(&[2, 3]), &w(&[(2, 95.0), (3, 5.0)]), d(3));
        assert_eq!(r.pick(0.0), Some(&2));
        assert_eq!(r.pick(0.949), Some(&2));
        assert_eq!(r.pick(0.951), Some(&3));
        assert_eq!(r.pick(0.999_999), Some(&3));
        let n = 10_000;
        let to_3 = (0..n).filter(|i| r.pick(*i as f64 / n as f64) == Some(&3)).count();
        assert_eq!(to_3, 500);
        assert!((share(&r, 3) - 5.0).abs() < 1e-9);
    }

    #[test]
    fn main_version_takes_the_most_traffic() {
        let r = Routing::new(avail(&[2, 3]), &w(&[(2, 95.0), (3, 5.0)]), d(3));
        assert_eq!(r.main_version(), Some(&VersionId::from(2)));
        let r = Routing::new(avail(&[2, 3]), &w(&[(2, 50.0), (3, 50.0)]), d(3));
        assert_eq!(r.main_version(), Some(&VersionId::from(3)));
        let r = Routing::new(avail(&[1, 2]), &[], d(2));
        assert_eq!(r.main_version(), Some(&VersionId::from(2)));
        assert_eq!(Routing::<u64>::default().main_version(), None);
    }

    #[test]
    fn versions_that_are_not_available_get_nothing() {
        // Version 3 is still loading: all traffic stays on 2 whatever its weight.
        let r = Routing::new(avail(&[2]), &w(&[(2, 50.0), (3, 50.0)]), d(2));
        for d in [0.0, 0.5, 0.75, 0.99] {
            assert_eq!(r.pick(d), Some(&2));
        }
        // Zero weights everywhere fall back to the default.
        let r = Routing::new(avail(&[2, 3]), &w(&[(2, 0.0), (3, 0.0)]), d(3));
        assert_eq!(r.pick(0.3), Some(&3));
        let r: Routing<u64> = Routing::new(avail(&[]), &w(&[(2, 100.0)]), d(2));
        assert_eq!(r.pick(0.3), None);
        assert!(!r.is_ready());
    }

    proptest::proptest! {
        /// The shares the router applies are exactly berth-api's effective weights.
        #[test]
        fn shares_are_the_effective_weights(
            entries in proptest::collection::btree_map(1u64..8, (0.0f64..100.0, proptest::bool::ANY), 0..6)
        ) {
            let table: Vec<TrafficTarget> =
                entries.iter().map(|(v, (w, _))| TrafficTarget { version: v.to_string(), weight: *w }).collect();
            let up: Vec<u64> = entries.iter().filter(|(_, (_, up))| *up).map(|(v, _)| *v).collect();
            let r = Routing::new(avail(&up), &w(&entries.iter().map(|(v, (w, _))| (*v, *w)).collect::<Vec<_>>()), None);
            let expected = berth_api::effective_weights(&table, |v| up.iter().any(|u| u.to_string() == v));
            let shares = r.shares();
            for target in &expected {
                let got = shares.get(&VersionId::from(target.version.parse::<u64>().unwrap_or_default()));
                proptest::prop_assert!(got.is_some_and(|g| (g - target.weight).abs() < 1e-9), "{target:?}: {got:?}");
            }
            // Whatever effective_weights leaves out gets nothing.
            let positive = expected.iter().filter(|t| t.weight > 0.0).count();
            proptest::prop_assert_eq!(shares.values().filter(|s| **s > 0.0).count(), positive);
        }
    }
}
