//! Prometheus metrics. Dashboards and the operator depend on these exact
//! names and labels, so they are berth-api's constants (`berth_api::metrics`);
//! `result` and `state` label values are bounded sets.

use prometheus::{
    Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use berth_api::metrics::{
    AGREEMENT, BATCH_SIZE, FALLBACKS_TOTAL, LABEL_MODEL, LABEL_RESULT, LABEL_STATE, LABEL_VERSION, MIRRORED_TOTAL,
    MODEL_LOAD_DURATION_SECONDS, OUTPUT_WIDTH, QUEUE_DEPTH, REQUEST_DURATION_SECONDS, REQUESTS_TOTAL, VERSION_STATE,
};

use crate::manager::VersionState;

#[derive(Debug, thiserror::Error)]
#[error("metrics: {0}")]
pub struct MetricsError(#[from] prometheus::Error);

impl MetricsError {
    pub fn category(&self) -> &'static str {
        "metrics"
    }
}

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    requests_total: IntCounterVec,
    request_duration: HistogramVec,
    batch_size: HistogramVec,
    queue_depth: IntGaugeVec,
    load_duration: GaugeVec,
    version_state: IntGaugeVec,
    fallbacks_total: IntCounterVec,
    agreement: HistogramVec,
    mirrored_total: IntCounterVec,
    output_width: IntGaugeVec,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

/// Handles of one version's hot-path series, looked up once at load time so
/// the request path does not hash label values.
#[derive(Clone, Debug)]
pub struct VersionMetrics {
    pub batch_size: Histogram,
    pub queue_depth: IntGauge,
}

impl Metrics {
    pub fn new() -> Result<Self, MetricsError> {
        let registry = Registry::new();
        let mv = &[LABEL_MODEL, LABEL_VERSION];
        let requests_total = IntCounterVec::new(
            Opts::new(REQUESTS_TOTAL, "Inference requests by result"),
            &[LABEL_MODEL, LABEL_VERSION, LABEL_RESULT],
        )?;
        let request_duration = HistogramVec::new(
            HistogramOpts::new(REQUEST_DURATION_SECONDS, "Inference request latency from parsed request to reply")
                .buckets(vec![0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0]),
            mv,
        )?;
        let batch_size = HistogramVec::new(
            HistogramOpts::new(BATCH_SIZE, "Rows per session run")
                .buckets(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0]),
            mv,
        )?;
        let queue_depth = IntGaugeVec::new(Opts::new(QUEUE_DEPTH, "Requests waiting for a batch"), mv)?;
        let load_duration = GaugeVec::new(
            Opts::new(MODEL_LOAD_DURATION_SECONDS, "Seconds the last load of the version took, warm-up included"),
            mv,
        )?;
        let version_state = IntGaugeVec::new(
            Opts::new(VERSION_STATE, "1 for the state the version is in, 0 for the others"),
            &[LABEL_MODEL, LABEL_VERSION, LABEL_STATE],
        )?;
        let fallbacks_total = IntCounterVec::new(
            Opts::new(FALLBACKS_TOTAL, "Requests a version failed server-side that stable answered instead"),
            mv,
        )?;
        let agreement = HistogramVec::new(
            HistogramOpts::new(AGREEMENT, "Per-input agreement with stable on mirrored requests")
                .buckets(vec![0.0, 0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999, 1.0]),
            mv,
        )?;
        let mirrored_total = IntCounterVec::new(
            Opts::new(MIRRORED_TOTAL, "Mirrored copies of stable's requests by what became of them"),
            &[LABEL_MODEL, LABEL_VERSION, LABEL_RESULT],
        )?;
        let output_width =
            IntGaugeVec::new(Opts::new(OUTPUT_WIDTH, "Output width: embedding dimension or number of labels"), mv)?;
        registry.register(Box::new(requests_total.clone()))?;
        registry.register(Box::new(request_duration.clone()))?;
        registry.register(Box::new(batch_size.clone()))?;
        registry.register(Box::new(queue_depth.clone()))?;
        registry.register(Box::new(load_duration.clone()))?;
        registry.register(Box::new(version_state.clone()))?;
        registry.register(Box::new(fallbacks_total.clone()))?;
        registry.register(Box::new(agreement.clone()))?;
        registry.register(Box::new(mirrored_total.clone()))?;
        registry.register(Box::new(output_width.clone()))?;
        Ok(Self {
            registry,
            requests_total,
            request_duration,
            batch_size,
            queue_depth,
            load_duration,
            version_state,
            fallbacks_total,
            agreement,
            mirrored_total,
            output_width,
        })
    }

    pub fn version(&self, model: &str, version: &str) -> VersionMetrics {
        VersionMetrics {
            batch_size: self.batch_size.with_label_values(&[model, version]),
            queue_depth: self.queue_depth.with_label_values(&[model, version]),
        }
    }

    /// One finished request. `version` is empty when none was chosen (unknown
    /// model or version, no version available).
    pub fn observe_request(&self, model: &str, version: &str, result: &str, seconds: f64) {
        self.requests_total.with_label_values(&[model, version, result]).inc();
        if !version.is_empty() {
            self.request_duration.with_label_values(&[model, version]).observe(seconds);
        }
    }

    /// `version` failed a request that stable then answered.
    pub fn observe_fallback(&self, model: &str, version: &str) {
        self.fallbacks_total.with_label_values(&[model, version]).inc();
    }

    /// What became of one mirrored copy sent to `version`: `compared` (with the
    /// agreement of each input), `incomparable`, `failed` or `dropped`.
    pub fn observe_mirrored(&self, model: &str, version: &str, result: &str, agreement: &[f64]) {
        self.mirrored_total.with_label_values(&[model, version, result]).inc();
        let h = self.agreement.with_label_values(&[model, version]);
        for a in agreement {
            h.observe(*a);
        }
    }

    pub fn set_output_width(&self, model: &str, version: &str, width: usize) {
        self.output_width.with_label_values(&[model, version]).set(i64::try_from(width).unwrap_or(i64::MAX));
    }

    pub fn set_load_duration(&self, model: &str, version: &str, seconds: f64) {
        let g: Gauge = self.load_duration.with_label_values(&[model, version]);
        g.set(seconds);
    }

    pub fn set_state(&self, model: &str, version: &str, state: VersionState) {
        for s in VersionState::ALL {
            self.version_state.with_label_values(&[model, version, s.as_str()]).set(i64::from(s == state));
        }
    }

    /// Prometheus text exposition of everything registered.
    pub fn render(&self) -> Result<String, MetricsError> {
        let mut buf = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buf)?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }
}
