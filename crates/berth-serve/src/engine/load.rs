//! Loading a version directory: verify, read the task, build the tokenizer
//! and the sessions of its backend (ONNX Runtime or TensorFlow), check the
//! graph, warm every sequence-length bucket, then start the workers. Blocking;
//! the manager runs it off the async runtime.

use std::path::Path;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, mpsc};

use super::Row;
use super::backend;
use super::batch::BatchLimits;
use super::version::Version;
use super::worker::{self, Intake, Runner, Shared};
use crate::config::ServingConfig;
use crate::manager::VersionId;
use crate::metrics::VersionMetrics;
use crate::model::{LoadError, Task, TextTokenizer, hf_config, manifest};

pub fn load(
    model: &str,
    number: VersionId,
    dir: &Path,
    cfg: &ServingConfig,
    metrics: VersionMetrics,
) -> Result<Version, LoadError> {
    let manifest = manifest::load_and_verify(dir)?;
    if let Some(q) = &manifest.quantized {
        tracing::info!(model, version = %number, method = %q.method, weights = %q.weights,
            source_model_sha256 = %q.source_model_sha256, "a quantized version");
    }
    let info = hf_config::read(dir, &manifest, cfg.normalize, cfg.pooling)?;
    if let Some(expected) = cfg.expected_task
        && expected.as_str() != info.task.name()
    {
        // Serving it anyway would answer with the wrong kind of output.
        let actual = match info.task {
            Task::Embedding { .. } => "an embedding model (config.json has no id2label)",
            Task::Classification { .. } => "a classifier (config.json has id2label)",
        };
        return Err(LoadError::Config(format!(
            "the model is configured as {} but this version is {actual}, by its config.json or manifest",
            expected.as_str()
        )));
    }
    let tokenizer = TextTokenizer::from_dir(dir, cfg.max_sequence_length, cfg.truncation)?;
    let (format, backends, signature) = backend::open(dir, cfg, &info.task)?;
    let mut runners: Vec<Runner> = backends.into_iter().map(|b| Runner::new(b, info.task.clone())).collect();

    let mut output_width = 0;
    // ONNX Runtime sessions are separate and each needs its warm-up; a SavedModel's
    // workers share one TensorFlow session, so warming it once is enough.
    let warm = match format {
        backend::Format::SavedModel => runners.len().min(1),
        backend::Format::Onnx => runners.len(),
    };
    for runner in runners.iter_mut().take(warm) {
        output_width = warm_up(runner, cfg, tokenizer.vocab_size())?;
    }
    if let (Some(hidden), Task::Embedding { .. }) = (info.hidden_size, &info.task)
        && hidden != output_width
    {
        return Err(LoadError::Signature(format!(
            "config.json says hidden_size {hidden}, the graph produces {output_width}"
        )));
    }

    let (sender, rx) = mpsc::sync_channel(cfg.queue_capacity.max(1));
    let shared = Arc::new(Shared {
        intake: Mutex::new(Intake { rx, carry: None }),
        incoming: AtomicUsize::new(0),
        limits: BatchLimits { rows: cfg.max_batch_size.max(1), tokens: cfg.max_batch_tokens },
        max_delay: cfg.max_batch_delay,
        metrics,
    });
    let mut workers = Vec::with_capacity(runners.len());
    for (i, runner) in runners.into_iter().enumerate() {
        let shared = Arc::clone(&shared);
        let handle = std::thread::Builder::new()
            .name(format!("{model}-v{number}-s{i}"))
            .spawn(move || worker::run(shared, runner))
            .map_err(|e| LoadError::Runtime(format!("starting a session worker: {e}")))?;
        workers.push(handle);
    }
    Ok(Version {
        model: model.to_string(),
        number,
        dir: dir.to_path_buf(),
        info,
        format,
        signature,
        tokenizer,
        output_width,
        sender,
        shared,
        capacity: cfg.queue_capacity.max(1),
        workers: Mutex::new(workers),
    })
}

/// Runs every sequence-length bucket at batch size 1 and at the largest batch
/// the token budget allows (at most ~4k tokens), so the first real requests do not pay
/// for the runtime's allocations and a graph that fails at run time is found
/// before the version is served. Returns the output width.
fn warm_up(runner: &mut Runner, cfg: &ServingConfig, vocab: usize) -> Result<usize, LoadError> {
    // A plausible sentence: [CLS]-ish first token, ordinary ids, [SEP]-ish last.
    let token = i64::try_from(vocab.saturating_sub(1).min(1000)).unwrap_or(0);
    let mut width = 0;
    let buckets = if cfg.warmup { cfg.warmup_buckets() } else { vec![cfg.max_sequence_length.clamp(2, 8)] };
    for len in buckets {
        let row = Row { ids: vec![token; len], type_ids: vec![0; len], mask: None };
        let budget = if cfg.max_batch_tokens == 0 { 4096 } else { cfg.max_batch_tokens.min(4096) };
        let big = (budget / len).clamp(1, cfg.max_batch_size.max(1));
        let sizes: &[usize] = if cfg.warmup && big > 1 { &[1, big] } else { &[1] };
        for &batch in sizes {
            let rows: Vec<&Row> = std::iter::repeat_n(&row, batch).collect();
            let mut bad = false;
            width = runner
                .run_chunk(&rows, |_, v| bad |= v.iter().any(|x| !x.is_finite()))
                .map_err(|e| LoadError::Warmup(format!("sequence length {len}, batch {batch}: {e}")))?;
            if bad {
                return Err(LoadError::Warmup(format!(
                    "sequence length {len}, batch {batch}: the output has NaN or infinite values"
                )));
            }
        }
    }
    Ok(width)
}
