//! Rules of the traffic table that the operator writes and every serving pod obeys.
//! berth-api re-exports this module, so the contract, the engine and the server's
//! router share one copy.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One line of the traffic table: a version and its share of requests in percent.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct TrafficTarget {
    pub version: String,
    #[schemars(range(min = 0.0, max = 100.0))]
    pub weight: f64,
}

/// Weights are kept to 0.01 percent; finer steps buy nothing and break equality.
pub const WEIGHT_RESOLUTION: f64 = 0.01;

/// Round a weight to the table's resolution and clamp it into 0..=100.
pub fn round_weight(weight: f64) -> f64 {
    if !weight.is_finite() {
        return 0.0;
    }
    ((weight.clamp(0.0, 100.0) / WEIGHT_RESOLUTION).round()) * WEIGHT_RESOLUTION
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrafficError {
    #[error("traffic lists version {0:?} twice")]
    DuplicateVersion(String),
    #[error("traffic weight of version {version:?} is {weight}, outside 0..=100")]
    WeightOutOfRange { version: String, weight: f64 },
    #[error("traffic weights sum to {0}, not 100")]
    BadSum(f64),
}

/// Check a table: distinct versions, weights in range, and a sum of 100 (an empty
/// table is valid: nothing to serve yet).
pub fn validate_traffic(table: &[TrafficTarget]) -> Result<(), TrafficError> {
    let mut sum = 0.0;
    for (index, target) in table.iter().enumerate() {
        if table[..index].iter().any(|t| t.version == target.version) {
            return Err(TrafficError::DuplicateVersion(target.version.clone()));
        }
        if !(0.0..=100.0).contains(&target.weight) {
            return Err(TrafficError::WeightOutOfRange { version: target.version.clone(), weight: target.weight });
        }
        sum += target.weight;
    }
    if !table.is_empty() && (sum - 100.0).abs() > WEIGHT_RESOLUTION / 2.0 {
        return Err(TrafficError::BadSum(sum));
    }
    Ok(())
}

/// The weight a table gives a version (0 when absent).
pub fn weight_of(table: &[TrafficTarget], version: &str) -> f64 {
    table.iter().filter(|t| t.version == version).map(|t| t.weight).sum()
}

/// The weights one pod should apply given the versions it has AVAILABLE: versions it
/// cannot serve get nothing and their share goes to the rest in proportion, so a pod
/// that has not loaded the canary sends it nothing. Returns an empty list when the
/// pod can serve none of the listed versions with a positive weight.
pub fn effective_weights(table: &[TrafficTarget], available: impl Fn(&str) -> bool) -> Vec<TrafficTarget> {
    let servable: Vec<&TrafficTarget> = table.iter().filter(|t| available(&t.version)).collect();
    let total: f64 = servable.iter().map(|t| t.weight).sum();
    if total <= 0.0 {
        return Vec::new();
    }
    servable
        .into_iter()
        .map(|t| TrafficTarget { version: t.version.clone(), weight: t.weight * 100.0 / total })
        .collect()
}

/// A table of `(version, weight)`, each weight rounded.
pub fn table(entries: &[(&str, f64)]) -> Vec<TrafficTarget> {
    entries.iter().map(|(v, w)| TrafficTarget { version: v.to_string(), weight: round_weight(*w) }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(entries: &[(&str, f64)]) -> Vec<TrafficTarget> {
        entries.iter().map(|(v, w)| TrafficTarget { version: v.to_string(), weight: *w }).collect()
    }

    #[test]
    fn accepts_tables_that_sum_to_100() {
        assert_eq!(validate_traffic(&raw(&[("2", 95.0), ("3", 5.0)])), Ok(()));
        assert_eq!(validate_traffic(&raw(&[("2", 66.67), ("3", 33.33)])), Ok(()));
        assert_eq!(validate_traffic(&[]), Ok(()));
    }

    #[test]
    fn rejects_bad_tables() {
        assert!(matches!(validate_traffic(&raw(&[("2", 90.0)])), Err(TrafficError::BadSum(_))));
        assert!(matches!(validate_traffic(&raw(&[("2", 50.0), ("2", 50.0)])), Err(TrafficError::DuplicateVersion(_))));
        assert!(matches!(
            validate_traffic(&raw(&[("2", 110.0), ("3", -10.0)])),
            Err(TrafficError::WeightOutOfRange { .. })
        ));
    }

    #[test]
    fn unavailable_versions_get_nothing_in_a_pod() {
        let t = raw(&[("2", 75.0), ("3", 25.0)]);
        let only_stable = effective_weights(&t, |v| v == "2");
        assert_eq!(only_stable, raw(&[("2", 100.0)]));
        let both = effective_weights(&t, |_| true);
        assert_eq!(both, t);
        assert!(effective_weights(&t, |_| false).is_empty());
    }

    #[test]
    fn rounds_to_resolution() {
        assert_eq!(round_weight(33.333), 33.33);
        assert_eq!(round_weight(150.0), 100.0);
        assert_eq!(round_weight(f64::NAN), 0.0);
    }

    /// Tables of distinct versions with weights, each with whether a pod has it.
    fn tables() -> impl proptest::strategy::Strategy<Value = Vec<(TrafficTarget, bool)>> {
        use proptest::prelude::*;
        proptest::collection::btree_map("[a-z0-9]{1,3}", (0.0f64..=100.0, any::<bool>()), 0..8).prop_map(|m| {
            m.into_iter().map(|(version, (weight, up))| (TrafficTarget { version, weight }, up)).collect()
        })
    }

    proptest::proptest! {
        #[test]
        fn effective_weights_sum_to_100_over_what_a_pod_can_serve(entries in tables()) {
            let table: Vec<TrafficTarget> = entries.iter().map(|(t, _)| t.clone()).collect();
            let up = |v: &str| entries.iter().any(|(t, up)| *up && t.version == v);
            let effective = effective_weights(&table, up);
            let servable: f64 = table.iter().filter(|t| up(&t.version)).map(|t| t.weight).sum();
            if servable > 0.0 {
                let sum: f64 = effective.iter().map(|t| t.weight).sum();
                proptest::prop_assert!((sum - 100.0).abs() < 1e-9, "{sum}");
            } else {
                proptest::prop_assert!(effective.is_empty());
            }
            // Unavailable versions get nothing: they are not in the result at all.
            proptest::prop_assert!(effective.iter().all(|t| up(&t.version)));
            // Proportions between the served versions are the table's.
            for a in &effective {
                for b in &effective {
                    let (wa, wb) = (weight_of(&table, &a.version), weight_of(&table, &b.version));
                    proptest::prop_assert!((a.weight * wb - b.weight * wa).abs() < 1e-6, "{a:?} {b:?}");
                }
            }
        }

        #[test]
        fn a_pod_with_everything_applies_a_valid_table_as_is(entries in tables()) {
            let mut table: Vec<TrafficTarget> = entries.into_iter().map(|(t, _)| t).collect();
            let total: f64 = table.iter().map(|t| t.weight).sum();
            if total > 0.0 {
                table.iter_mut().for_each(|t| t.weight = t.weight * 100.0 / total);
                let effective = effective_weights(&table, |_| true);
                for (e, t) in effective.iter().zip(&table) {
                    proptest::prop_assert!(e.version == t.version && (e.weight - t.weight).abs() < 1e-9);
                }
            }
        }
    }
}
