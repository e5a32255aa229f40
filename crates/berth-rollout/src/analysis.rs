//! Judging the canary over one analysis interval, from the difference of cumulative
//! counters (requests, errors, latency histogram, agreement with stable on mirrored
//! requests) between two snapshots.

use crate::policy::AnalysisLimits;
use crate::state::{CounterSnapshot, LatencyBucket, RejectionReason};

/// The verdict on one interval.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Within the limits.
    Pass,
    /// Fewer than `minRequests` requests: not judged, failures neither reset nor grow.
    Inconclusive,
    /// The counters went backwards (a pod restarted): the interval starts again.
    Reset,
    /// Over a limit.
    Fail { reason: RejectionReason, message: String },
}

/// Mean agreement with stable below which an embedding model is not a retrained
/// version of the same model but another embedding space: a fine-tune that keeps its
/// space stays well above 0.9 mean cosine; unrelated models of the same width sit near 0.
pub const EMBEDDING_SPACE_FLOOR: f64 = 0.5;

/// The interval's numbers and the verdict on them.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    pub requests: u64,
    pub errors: u64,
    pub error_rate: Option<f64>,
    pub p99_seconds: Option<f64>,
    /// Mean agreement with stable over the interval's compared inputs.
    pub agreement: Option<f64>,
    pub agreement_samples: u64,
    pub verdict: Verdict,
}

/// Judge the interval from `before` to `after`.
pub fn judge(limits: &AnalysisLimits, before: &CounterSnapshot, after: &CounterSnapshot) -> Judgement {
    let reset = Judgement {
        requests: 0,
        errors: 0,
        error_rate: None,
        p99_seconds: None,
        agreement: None,
        agreement_samples: 0,
        verdict: Verdict::Reset,
    };
    let (Some(requests), Some(errors), Some(agreement_samples)) = (
        after.requests.checked_sub(before.requests),
        after.errors.checked_sub(before.errors),
        after.agreement_samples.checked_sub(before.agreement_samples),
    ) else {
        return reset;
    };
    let Some(buckets) = bucket_delta(before, after) else {
        return Judgement { requests, errors, ..reset };
    };
    let latency_count = after.latency_count.saturating_sub(before.latency_count);
    let p99 = quantile(0.99, &buckets, latency_count);
    let agreement = (agreement_samples > 0)
        .then(|| ((after.agreement_sum - before.agreement_sum) / agreement_samples as f64).clamp(-1.0, 1.0));
    let gated = limits.min_agreement.is_some() || limits.embedding_space_guard;
    let judged_agreement = agreement.filter(|_| gated && agreement_samples >= limits.min_agreement_samples);
    let numbers = Judgement {
        requests,
        errors,
        error_rate: None,
        p99_seconds: p99,
        agreement,
        agreement_samples,
        verdict: Verdict::Inconclusive,
    };
    // Agreement is judged on its own sample count, so a shadow step (no client
    // traffic, only mirrored copies) is judged too.
    if let Some(verdict) = agreement_verdict(limits, judged_agreement, agreement_samples) {
        return Judgement { verdict, ..numbers };
    }
    if requests == 0 || requests < limits.min_requests {
        // Too few requests to judge errors and latency; an agreement that was judged
        // (and passed) still counts as a passed interval.
        let verdict = if judged_agreement.is_some() { Verdict::Pass } else { Verdict::Inconclusive };
        return Judgement { verdict, ..numbers };
    }
    let error_rate = errors as f64 / requests as f64;
    let max_p99 = limits.max_p99_latency.as_secs_f64();
    let verdict = if error_rate > limits.max_error_rate {
        Verdict::Fail {
            reason: RejectionReason::ErrorRate,
            message: format!(
                "error rate {:.2}% ({errors} of {requests} requests) over the limit {:.2}%",
                error_rate * 100.0,
                limits.max_error_rate * 100.0
            ),
        }
    } else if let Some(p99) = p99.filter(|p| *p > max_p99) {
        Verdict::Fail {
            reason: RejectionReason::Latency,
            message: format!("p99 latency {:.0}ms over the limit {:.0}ms", p99 * 1000.0, max_p99 * 1000.0),
        }
    } else {
        Verdict::Pass
    };
    Judgement { error_rate: Some(error_rate), verdict, ..numbers }
}

/// A failing agreement, if it fails: far below any retraining (another embedding
/// space) first, then below `minAgreement`.
fn agreement_verdict(limits: &AnalysisLimits, agreement: Option<f64>, samples: u64) -> Option<Verdict> {
    let agreement = agreement?;
    if limits.embedding_space_guard && agreement < EMBEDDING_SPACE_FLOOR {
        return Some(Verdict::Fail {
            reason: RejectionReason::EmbeddingSpaceChanged,
            message: format!(
                "mean cosine similarity to stable {agreement:.3} over {samples} mirrored inputs, below {EMBEDDING_SPACE_FLOOR}: \
                 another embedding space (set rollout.allowEmbeddingSpaceChange to roll it out anyway)"
            ),
        });
    }
    let min = limits.min_agreement?;
    (agreement < min).then(|| Verdict::Fail {
        reason: RejectionReason::QualityGate,
        message: format!(
            "agreement with stable {agreement:.4} over {samples} mirrored inputs, below minAgreement {min}"
        ),
    })
}

/// Per-bucket differences; `None` when any bucket went backwards.
fn bucket_delta(before: &CounterSnapshot, after: &CounterSnapshot) -> Option<Vec<LatencyBucket>> {
    after
        .latency_buckets
        .iter()
        .map(|b| {
            let old = before.latency_buckets.iter().find(|o| o.le == b.le).map_or(0, |o| o.count);
            b.count.checked_sub(old).map(|count| LatencyBucket { le: b.le, count })
        })
        .collect()
}

/// The `q` quantile of a cumulative histogram, interpolated linearly inside the bucket
/// the way Prometheus' `histogram_quantile` does. Observations above the largest finite
/// bucket report that bucket's bound (the best a histogram can say).
pub fn quantile(q: f64, buckets: &[LatencyBucket], total: u64) -> Option<f64> {
    let total = total.max(buckets.last().map_or(0, |b| b.count));
    if total == 0 {
        return None;
    }
    let rank = q * total as f64;
    let mut lower_bound = 0.0;
    let mut lower_count = 0u64;
    for bucket in buckets {
        if bucket.count as f64 >= rank {
            let in_bucket = bucket.count.saturating_sub(lower_count) as f64;
            if in_bucket <= 0.0 {
                return Some(bucket.le);
            }
            let fraction = (rank - lower_count as f64) / in_bucket;
            return Some(lower_bound + (bucket.le - lower_bound) * fraction);
        }
        lower_bound = bucket.le;
        lower_count = bucket.count;
    }
    buckets.last().map(|b| b.le)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn limits() -> AnalysisLimits {
        AnalysisLimits {
            interval: Duration::from_secs(5),
            max_error_rate: 0.01,
            max_p99_latency: Duration::from_millis(200),
            min_requests: 50,
            failure_limit: 2,
            min_agreement: Some(0.99),
            min_agreement_samples: 20,
            embedding_space_guard: true,
        }
    }

    fn snap(requests: u64, errors: u64, buckets: &[(f64, u64)]) -> CounterSnapshot {
        CounterSnapshot {
            requests,
            errors,
            latency_buckets: buckets.iter().map(|(le, count)| LatencyBucket { le: *le, count: *count }).collect(),
            latency_count: requests,
            ..CounterSnapshot::default()
        }
    }

    /// Mirrored comparisons only: `samples` inputs agreeing `mean` on average.
    fn agreed(samples: u64, mean: f64) -> CounterSnapshot {
        CounterSnapshot {
            agreement_sum: mean * samples as f64,
            agreement_samples: samples,
            ..CounterSnapshot::default()
        }
    }

    #[test]
    fn passes_within_limits() {
        let j = judge(&limits(), &snap(0, 0, &[]), &snap(100, 0, &[(0.01, 90), (0.1, 100), (1.0, 100)]));
        assert_eq!(j.verdict, Verdict::Pass);
        assert_eq!(j.requests, 100);
        assert!(j.p99_seconds.is_some_and(|p| p <= 0.1));
    }

    #[test]
    fn fails_on_error_rate_from_deltas() {
        // 1000 earlier requests with no errors must not dilute this interval's errors.
        let before = snap(1000, 0, &[(0.1, 1000)]);
        let after = snap(1100, 5, &[(0.1, 1100)]);
        let j = judge(&limits(), &before, &after);
        assert!(matches!(j.verdict, Verdict::Fail { reason: RejectionReason::ErrorRate, .. }));
        assert_eq!(j.error_rate, Some(0.05));
    }

    #[test]
    fn fails_on_latency() {
        let after = snap(100, 0, &[(0.1, 50), (0.5, 100), (1.0, 100)]);
        let j = judge(&limits(), &snap(0, 0, &[]), &after);
        assert!(matches!(j.verdict, Verdict::Fail { reason: RejectionReason::Latency, .. }), "{j:?}");
    }

    #[test]
    fn too_few_requests_is_inconclusive() {
        let j = judge(&limits(), &snap(0, 0, &[]), &snap(10, 10, &[]));
        assert_eq!(j.verdict, Verdict::Inconclusive);
    }

    #[test]
    fn counters_going_backwards_reset() {
        let j = judge(&limits(), &snap(100, 1, &[]), &snap(20, 0, &[]));
        assert_eq!(j.verdict, Verdict::Reset);
    }

    #[test]
    fn agreement_is_judged_on_mirrored_inputs_alone() {
        // A shadow step: no client requests, only comparisons with stable.
        let zero = CounterSnapshot::default();
        let same = judge(&limits(), &zero, &agreed(100, 0.999));
        assert_eq!((&same.verdict, same.agreement_samples), (&Verdict::Pass, 100), "{same:?}");
        let drifted = judge(&limits(), &zero, &agreed(100, 0.95));
        assert!(matches!(drifted.verdict, Verdict::Fail { reason: RejectionReason::QualityGate, .. }), "{drifted:?}");
        assert!(drifted.agreement.is_some_and(|a| (a - 0.95).abs() < 1e-9));
        // Too few comparisons: reported, not judged.
        let few = judge(&limits(), &zero, &agreed(5, 0.1));
        assert_eq!(few.verdict, Verdict::Inconclusive);
        assert!(few.agreement.is_some());
    }

    #[test]
    fn agreement_far_below_retraining_is_another_embedding_space() {
        let zero = CounterSnapshot::default();
        let other = judge(&limits(), &zero, &agreed(50, 0.05));
        assert!(matches!(other.verdict, Verdict::Fail { reason: RejectionReason::EmbeddingSpaceChanged, .. }));
        // Allowed (or a classifier): only minAgreement speaks.
        let allowed = AnalysisLimits { embedding_space_guard: false, ..limits() };
        let j = judge(&allowed, &zero, &agreed(50, 0.05));
        assert!(matches!(j.verdict, Verdict::Fail { reason: RejectionReason::QualityGate, .. }));
        let no_gate = AnalysisLimits { min_agreement: None, ..allowed };
        assert_eq!(judge(&no_gate, &zero, &agreed(50, 0.05)).verdict, Verdict::Inconclusive);
    }

    #[test]
    fn agreement_is_the_interval_s_not_the_total() {
        let before = agreed(1000, 1.0);
        let after = CounterSnapshot { agreement_sum: 1000.0 + 50.0 * 0.9, agreement_samples: 1050, ..before.clone() };
        let j = judge(&limits(), &before, &after);
        assert!(j.agreement.is_some_and(|a| (a - 0.9).abs() < 1e-9), "{j:?}");
    }

    #[test]
    fn quantile_interpolates_like_prometheus() {
        let buckets = [LatencyBucket { le: 0.1, count: 0 }, LatencyBucket { le: 0.2, count: 100 }];
        let p50 = quantile(0.5, &buckets, 100).unwrap_or_default();
        assert!((p50 - 0.15).abs() < 1e-9, "{p50}");
        assert_eq!(quantile(0.99, &[], 0), None);
        // Everything above the last finite bucket: report that bound.
        assert_eq!(quantile(0.99, &[LatencyBucket { le: 0.5, count: 0 }], 10), Some(0.5));
    }
}
