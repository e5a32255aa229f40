//! Serving configuration shared by every version of a model.

use std::path::PathBuf;
use std::time::Duration;

// The settings the operator also writes are berth-api's types: one contract.
use berth_api::{Normalize, Pooling, Task, Truncation};

/// When ONNX Runtime's intra-op threads spin-wait instead of sleeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Spinning {
    /// Spin between the operators of one run (cheap hand-offs inside it), sleep
    /// once the run returns: the cores go back to parsing and tokenizing.
    DuringRun,
    /// ONNX Runtime's default: idle threads keep spinning after a run, taking CPU
    /// from the request path on small machines.
    Always,
    /// Never spin: every hand-off between threads is a wake-up.
    Never,
}

/// Knobs of one model's serving; the same for all of its versions.
#[derive(Debug, Clone)]
pub struct ServingConfig {
    /// Most rows run in one session call.
    pub max_batch_size: usize,
    /// Most padded tokens (rows x longest row) in one session call; 0: rows only.
    pub max_batch_tokens: usize,
    /// Longest time the first request of a batch waits for company. The
    /// batcher only waits while more requests are on their way (tokenizing),
    /// so a lone request never pays this delay.
    pub max_batch_delay: Duration,
    /// Longest input in tokens, special tokens included.
    pub max_sequence_length: usize,
    /// What to do with an input longer than `max_sequence_length` tokens.
    pub truncation: Truncation,
    /// ONNX Runtime intra-op threads per session.
    pub threads: usize,
    /// Sessions (and worker threads) per version.
    pub sessions: usize,
    /// When ONNX Runtime's intra-op threads may spin-wait for work.
    pub spinning: Spinning,
    /// Requests waiting per version beyond which new ones are refused at once.
    pub queue_capacity: usize,
    /// Whether embeddings are L2-normalised after pooling.
    pub normalize: Normalize,
    /// How token vectors become one embedding (see `model::pooling`).
    pub pooling: Pooling,
    /// When set, a version whose files make it another task fails to load.
    pub expected_task: Option<Task>,
    /// Run every sequence-length bucket before a version becomes AVAILABLE.
    pub warmup: bool,
    /// How long an unloading version waits for its in-flight requests.
    pub drain_timeout: Duration,
    /// ONNX Runtime shared library; `ORT_DYLIB_PATH` when unset.
    pub ort_library: Option<PathBuf>,
    /// The SignatureDef a SavedModel version is served through.
    pub signature_name: String,
    /// Share of wall time mirrored copies may run (0-1; 1: no budget).
    pub mirror_budget: f64,
}

/// On CPU a BERT run of about 512 padded tokens already reaches the session's
/// best throughput (MiniLM on 2 cores: 32 short texts or 4 of 128 tokens);
/// bigger runs only add waiting time.
pub const DEFAULT_MAX_BATCH_TOKENS: usize = 512;

/// Copies may run 5% of the time. Measured by `make serve-mirror-bench` (MiniLM, 2
/// noisy cores, open loop at half of saturation, three runs): unbounded copies took the
/// clients' p99 to 2.7-2.9x of no mirroring, 5% to 1.03-1.56x (1%: 0.96-0.97x), with
/// about 9-10 short-text copies compared a second per pod, enough for
/// `minAgreementSamples` within a default 10 s interval (1% gives 2 a second). A copy
/// cannot be preempted once in ONNX Runtime, so any copy that overlaps a client's
/// request delays it; the budget bounds how often that happens.
pub const DEFAULT_MIRROR_BUDGET: f64 = 0.05;

/// TF Serving's default signature key.
pub const DEFAULT_SIGNATURE_NAME: &str = "serving_default";

impl Default for ServingConfig {
    fn default() -> Self {
        Self {
            max_batch_size: 32,
            max_batch_tokens: DEFAULT_MAX_BATCH_TOKENS,
            max_batch_delay: Duration::from_millis(2),
            max_sequence_length: 128,
            truncation: Truncation::Truncate,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            sessions: 1,
            spinning: Spinning::DuringRun,
            queue_capacity: 256,
            normalize: Normalize::Auto,
            pooling: Pooling::Auto,
            expected_task: None,
            warmup: true,
            drain_timeout: Duration::from_secs(30),
            ort_library: None,
            signature_name: DEFAULT_SIGNATURE_NAME.to_string(),
            mirror_budget: DEFAULT_MIRROR_BUDGET,
        }
    }
}

impl ServingConfig {
    /// Sequence-length buckets the warm-up runs: powers of two from 8 up to
    /// the maximum, plus the maximum itself.
    pub fn warmup_buckets(&self) -> Vec<usize> {
        let max = self.max_sequence_length.max(2);
        let mut out = Vec::new();
        let mut len = 8usize;
        while len < max {
            out.push(len);
            len *= 2;
        }
        out.push(max);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_end_at_the_maximum() {
        let cfg = ServingConfig { max_sequence_length: 128, ..ServingConfig::default() };
        assert_eq!(cfg.warmup_buckets(), vec![8, 16, 32, 64, 128]);
        let cfg = ServingConfig { max_sequence_length: 100, ..ServingConfig::default() };
        assert_eq!(cfg.warmup_buckets(), vec![8, 16, 32, 64, 100]);
        let cfg = ServingConfig { max_sequence_length: 4, ..ServingConfig::default() };
        assert_eq!(cfg.warmup_buckets(), vec![4]);
    }
}
