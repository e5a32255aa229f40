//! Names and label keys of the metrics Berth exports: what berth-serve registers, what
//! the operator reads back from the pods' `/metrics` and exports itself, and what the
//! dashboards and alerts query. `deploy/metrics.txt` lists [`ALL`] for non-Rust tools,
//! and a test keeps the two equal.

/// berth-serve: inference requests by `model`, `version`, `result`.
pub const REQUESTS_TOTAL: &str = "berth_serve_requests_total";
/// berth-serve: request latency histogram by `model`, `version`.
pub const REQUEST_DURATION_SECONDS: &str = "berth_serve_request_duration_seconds";
/// berth-serve: rows per session run, by `model`, `version`.
pub const BATCH_SIZE: &str = "berth_serve_batch_size";
/// berth-serve: requests waiting for a batch, by `model`, `version`.
pub const QUEUE_DEPTH: &str = "berth_serve_queue_depth";
/// berth-serve: seconds the last load took, by `model`, `version`.
pub const MODEL_LOAD_DURATION_SECONDS: &str = "berth_serve_model_load_duration_seconds";
/// berth-serve: 1 for the version's current `state`, 0 for the others.
pub const VERSION_STATE: &str = "berth_serve_version_state";
/// berth-serve: per-input agreement of a version's answers with stable's on mirrored
/// requests (cosine similarity; 1 or 0 for a classifier's top label), a histogram by
/// `model`, `version`: the operator judges `_sum / _count` per interval.
pub const AGREEMENT: &str = "berth_serve_agreement";
/// berth-serve: mirrored copies of stable's requests by `model`, `version` (the one
/// they were sent to) and `result`: compared, incomparable (another output width),
/// failed, dropped (no spare capacity).
pub const MIRRORED_TOTAL: &str = "berth_serve_mirrored_total";
/// berth-serve: the version's output width (embedding dimension or number of labels),
/// by `model`, `version`.
pub const OUTPUT_WIDTH: &str = "berth_serve_output_width";
/// berth-serve: requests a version failed with a server-side error that stable then
/// answered, by `model` and the `version` that failed (the failure itself is counted
/// in `berth_serve_requests_total` against that version, so the analysis sees it).
pub const FALLBACKS_TOTAL: &str = "berth_serve_fallbacks_total";

/// The operator's own metrics.
pub const RECONCILES_TOTAL: &str = "berth_operator_reconciles_total";
pub const RECONCILE_ERRORS_TOTAL: &str = "berth_operator_reconcile_errors_total";
pub const ROLLOUTS_TOTAL: &str = "berth_operator_rollouts_total";
pub const ROLLBACKS_TOTAL: &str = "berth_operator_rollbacks_total";
pub const TRAFFIC_WEIGHT: &str = "berth_operator_traffic_weight";
pub const ROLLOUT_DURATION_SECONDS: &str = "berth_operator_rollout_duration_seconds";

/// Every exported metric, in the order of `deploy/metrics.txt`.
pub const ALL: [&str; 16] = [
    RECONCILES_TOTAL,
    RECONCILE_ERRORS_TOTAL,
    ROLLOUTS_TOTAL,
    ROLLBACKS_TOTAL,
    TRAFFIC_WEIGHT,
    ROLLOUT_DURATION_SECONDS,
    REQUESTS_TOTAL,
    REQUEST_DURATION_SECONDS,
    BATCH_SIZE,
    QUEUE_DEPTH,
    MODEL_LOAD_DURATION_SECONDS,
    VERSION_STATE,
    FALLBACKS_TOTAL,
    AGREEMENT,
    MIRRORED_TOTAL,
    OUTPUT_WIDTH,
];

/// Label keys.
pub const LABEL_MODEL: &str = "model";
pub const LABEL_VERSION: &str = "version";
pub const LABEL_NAMESPACE: &str = "namespace";
/// `ok` or the error's category.
pub const LABEL_RESULT: &str = "result";
pub const LABEL_STATE: &str = "state";
/// Prometheus' histogram bucket bound.
pub const LABEL_LE: &str = "le";

/// The `result` of a request that succeeded.
pub const RESULT_OK: &str = "ok";

/// The series a histogram `name` exposes its buckets and count under.
pub fn bucket_series(name: &str) -> String {
    format!("{name}_bucket")
}
pub fn count_series(name: &str) -> String {
    format!("{name}_count")
}
pub fn sum_series(name: &str) -> String {
    format!("{name}_sum")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deploy_metrics_txt_lists_exactly_the_constants() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/metrics.txt");
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let listed: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        assert_eq!(listed, ALL, "deploy/metrics.txt and berth_api::metrics::ALL differ: update both");
    }

    #[test]
    fn names_are_prometheus_names_with_a_berth_prefix() {
        for name in ALL {
            let ok = name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            assert!(ok && (name.starts_with("berth_serve_") || name.starts_with("berth_operator_")), "{name}");
        }
    }
}
