//! The checks of the schema and its CEL rules, again in Rust: the operator runs them on
//! every model (a CRD installed without CEL support, or an object stored before a rule
//! existed, must still not start a bad rollout), and tools run them offline.

use std::fmt;

use crate::duration::KubeDuration;
use crate::spec::BertModelSpec;

/// One problem with one field, named by its path the way the API server names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub path: String,
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Every problem found in a spec (never just the first, so a user fixes them in one go).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid BertModel spec: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct SpecErrors(pub Vec<FieldError>);

/// Whether `text` is a DNS-1123 label (the shape of a version).
pub fn is_dns_label(text: &str) -> bool {
    let bytes = text.as_bytes();
    let edge_ok = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes.iter().all(|&b| edge_ok(b) || b == b'-')
        && bytes.first().copied().is_some_and(edge_ok)
        && bytes.last().copied().is_some_and(edge_ok)
}

pub fn validate_spec(spec: &BertModelSpec) -> Result<(), SpecErrors> {
    let mut errors = Vec::new();
    let mut fail = |path: &str, message: String| errors.push(FieldError { path: path.to_string(), message });

    if !is_dns_label(&spec.version) {
        fail(
            "spec.version",
            format!("{:?} must be a DNS-1123 label (lower-case letters, digits and '-', at most 63)", spec.version),
        );
    }
    if let Err(e) = spec.source.location() {
        fail("spec.source.uri", e.to_string());
    }
    if !(0..=1000).contains(&spec.replicas) {
        fail("spec.replicas", format!("{} must be between 0 and 1000", spec.replicas));
    }

    let serving = &spec.serving;
    let ranges: [(&str, u32, u32, u32); 6] = [
        ("spec.serving.maxBatchSize", serving.max_batch_size, 1, 1024),
        ("spec.serving.maxBatchTokens", serving.max_batch_tokens, 0, 1_048_576),
        ("spec.serving.maxSequenceLength", serving.max_sequence_length, 8, 8192),
        ("spec.serving.threads", serving.threads, 1, 256),
        ("spec.serving.sessions", serving.sessions, 1, 64),
        ("spec.serving.queueCapacity", serving.queue_capacity, 1, 100_000),
    ];
    for (path, value, min, max) in ranges {
        if !(min..=max).contains(&value) {
            fail(path, format!("{value} must be between {min} and {max}"));
        }
    }

    let rollout = &spec.rollout;
    if rollout.steps.is_empty() {
        fail("spec.rollout.steps", "must have at least one step".to_string());
    }
    for (index, step) in rollout.steps.iter().enumerate() {
        if !step.weight.is_finite() || !(0.0..=100.0).contains(&step.weight) {
            fail(&format!("spec.rollout.steps[{index}].weight"), format!("{} must be between 0 and 100", step.weight));
        }
        if let Some(mirror) = step.mirror
            && (!mirror.is_finite() || !(0.0..=100.0).contains(&mirror))
        {
            fail(&format!("spec.rollout.steps[{index}].mirror"), format!("{mirror} must be between 0 and 100"));
        }
        if step.weight == 0.0 && step.mirror.is_none_or(|m| m <= 0.0) {
            fail(
                &format!("spec.rollout.steps[{index}]"),
                "a step with weight 0 must mirror requests (mirror > 0): it has nothing else to judge".to_string(),
            );
        }
        if index > 0 && step.weight <= rollout.steps[index - 1].weight {
            fail(
                &format!("spec.rollout.steps[{index}].weight"),
                "step weights must be strictly increasing".to_string(),
            );
        }
    }
    if let Some(last) = rollout.steps.last()
        && last.weight != 100.0
    {
        let index = rollout.steps.len() - 1;
        fail(&format!("spec.rollout.steps[{index}].weight"), "the last step must have weight 100".to_string());
    }
    if let Some(min) = rollout.analysis.min_agreement
        && (!min.is_finite() || !(0.0..=1.0).contains(&min))
    {
        fail("spec.rollout.analysis.minAgreement", format!("{min} must be between 0 and 1"));
    }
    if rollout.analysis.min_agreement_samples == 0 {
        fail("spec.rollout.analysis.minAgreementSamples", "must be at least 1".to_string());
    }
    let positive: [(&str, KubeDuration); 2] = [
        ("spec.rollout.loadTimeout", rollout.load_timeout),
        ("spec.rollout.analysis.interval", rollout.analysis.interval),
    ];
    for (path, value) in positive {
        if value.as_duration().is_zero() {
            fail(path, "must be greater than 0s".to_string());
        }
    }
    if rollout.max_loading_pods < 1 {
        fail("spec.rollout.maxLoadingPods", format!("{} must be at least 1", rollout.max_loading_pods));
    }
    let analysis = &rollout.analysis;
    if !analysis.max_error_rate.is_finite() || !(0.0..=1.0).contains(&analysis.max_error_rate) {
        fail("spec.rollout.analysis.maxErrorRate", format!("{} must be between 0 and 1", analysis.max_error_rate));
    }
    if !(1..=100).contains(&analysis.failure_limit) {
        fail("spec.rollout.analysis.failureLimit", format!("{} must be between 1 and 100", analysis.failure_limit));
    }

    if let Some(golden) = &rollout.golden_set {
        if !is_dns_subdomain(&golden.config_map) {
            fail(
                "spec.rollout.goldenSet.configMap",
                format!("{:?} must be a ConfigMap name (a DNS-1123 subdomain)", golden.config_map),
            );
        }
        if !is_config_map_key(&golden.key) {
            fail(
                "spec.rollout.goldenSet.key",
                format!("{:?} must be a ConfigMap key (letters, digits, '-', '_' and '.')", golden.key),
            );
        }
        if !golden.min_accuracy.is_finite() || !(0.0..=1.0).contains(&golden.min_accuracy) {
            fail("spec.rollout.goldenSet.minAccuracy", format!("{} must be between 0 and 1", golden.min_accuracy));
        }
        if !golden.min_similarity.is_finite() || !(-1.0..=1.0).contains(&golden.min_similarity) {
            fail("spec.rollout.goldenSet.minSimilarity", format!("{} must be between -1 and 1", golden.min_similarity));
        }
    }

    if errors.is_empty() { Ok(()) } else { Err(SpecErrors(errors)) }
}

/// Whether `text` is a DNS-1123 subdomain (the shape of most object names).
pub fn is_dns_subdomain(text: &str) -> bool {
    text.len() <= 253 && text.split('.').all(is_dns_label)
}

/// Whether `text` can be a ConfigMap key.
pub fn is_config_map_key(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 253
        && text != "."
        && text != ".."
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_keys() {
        assert!(is_dns_subdomain("golden-set.v2") && !is_dns_subdomain("Golden") && !is_dns_subdomain("a..b"));
        assert!(is_config_map_key("golden.jsonl") && is_config_map_key("A_b-1"));
        assert!(!is_config_map_key("a/b") && !is_config_map_key("..") && !is_config_map_key(""));
    }

    #[test]
    fn dns_labels() {
        for ok in ["3", "v2", "2024-01-01", "a"] {
            assert!(is_dns_label(ok), "{ok}");
        }
        for bad in ["", "-1", "1-", "V2", "1.0", "a_b", &"x".repeat(64)] {
            assert!(!is_dns_label(bad), "{bad}");
        }
    }
}
