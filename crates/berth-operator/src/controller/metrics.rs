//! The operator's Prometheus metrics. Names come from `berth_api::metrics` (the chart's
//! dashboard and alerts query them); every label value comes from a bounded set (or names a model/version).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use berth_api::metrics;
use prometheus::{GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

#[derive(Debug)]
pub struct Metrics {
    pub registry: Registry,
    pub reconciles: IntCounterVec,
    pub errors: IntCounterVec,
    pub rollouts: IntCounterVec,
    pub rollbacks: IntCounterVec,
    pub traffic: GaugeVec,
    pub rollout_duration: HistogramVec,
    /// Versions with a weight series per (namespace, model), to drop stale series.
    published: Mutex<BTreeMap<(String, String), BTreeSet<String>>>,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let reconciles =
            IntCounterVec::new(Opts::new(metrics::RECONCILES_TOTAL, "Reconciles by result (ok, error)."), &["result"])?;
        let errors = IntCounterVec::new(
            Opts::new(metrics::RECONCILE_ERRORS_TOTAL, "Reconcile errors by category."),
            &["category"],
        )?;
        let rollouts = IntCounterVec::new(
            Opts::new(metrics::ROLLOUTS_TOTAL, "Finished rollouts by outcome (promoted, rolled_back)."),
            &["outcome"],
        )?;
        let rollbacks = IntCounterVec::new(Opts::new(metrics::ROLLBACKS_TOTAL, "Rollbacks by reason."), &["reason"])?;
        let traffic = GaugeVec::new(
            Opts::new(metrics::TRAFFIC_WEIGHT, "Percent of requests each version receives."),
            &[metrics::LABEL_NAMESPACE, metrics::LABEL_MODEL, metrics::LABEL_VERSION],
        )?;
        let rollout_duration = HistogramVec::new(
            HistogramOpts::new(metrics::ROLLOUT_DURATION_SECONDS, "From spec.version change to promotion.")
                .buckets(vec![1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0]),
            &[],
        )?;
        registry.register(Box::new(reconciles.clone()))?;
        registry.register(Box::new(errors.clone()))?;
        registry.register(Box::new(rollouts.clone()))?;
        registry.register(Box::new(rollbacks.clone()))?;
        registry.register(Box::new(traffic.clone()))?;
        registry.register(Box::new(rollout_duration.clone()))?;
        Ok(Self {
            registry,
            reconciles,
            errors,
            rollouts,
            rollbacks,
            traffic,
            rollout_duration,
            published: Mutex::new(BTreeMap::new()),
        })
    }

    /// Publish a model's traffic table, removing versions that left it.
    pub fn set_traffic(&self, namespace: &str, model: &str, table: &[berth_api::TrafficTarget]) {
        let Ok(mut published) = self.published.lock() else { return };
        let key = (namespace.to_string(), model.to_string());
        let now: BTreeSet<String> = table.iter().map(|t| t.version.clone()).collect();
        if let Some(before) = published.get(&key) {
            for gone in before.difference(&now) {
                let _ = self.traffic.remove_label_values(&[namespace, model, gone]);
            }
        }
        for t in table {
            self.traffic.with_label_values(&[namespace, model, t.version.as_str()]).set(t.weight);
        }
        if now.is_empty() {
            published.remove(&key);
        } else {
            published.insert(key, now);
        }
    }

    /// The text format `/metrics` serves.
    pub fn render(&self) -> String {
        berth_runtime::health::render(&self.registry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_api::TrafficTarget;

    #[test]
    fn traffic_series_follow_the_table() -> Result<(), prometheus::Error> {
        let m = Metrics::new()?;
        let t = |v: &str, w: f64| TrafficTarget { version: v.into(), weight: w };
        m.set_traffic("ml", "s", &[t("1", 90.0), t("2", 10.0)]);
        assert!(m.render().contains(r#"berth_operator_traffic_weight{model="s",namespace="ml",version="2"} 10"#));
        m.set_traffic("ml", "s", &[t("2", 100.0)]);
        let text = m.render();
        assert!(!text.contains(r#"version="1""#), "{text}");
        m.rollbacks.with_label_values(&["ErrorRate"]).inc();
        assert!(m.render().contains(r#"berth_operator_rollbacks_total{reason="ErrorRate"} 1"#));
        Ok(())
    }
}
