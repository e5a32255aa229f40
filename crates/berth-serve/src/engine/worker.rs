//! A worker thread owns one backend session (an ONNX Runtime session, or a
//! handle on the version's TensorFlow session) and loops: take a batch from the
//! version's queue, pad it to its longest row, run it, apply the task head,
//! answer each request.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::InferError;
use super::backend::{Backend, Inputs};
use super::batch::{self, BatchLimits};
use super::head::{cls_pool, mean_pool, softmax};
use super::job::{Job, Output, Row};
use crate::metrics::VersionMetrics;
use crate::model::{PoolingMode, Task};

/// State shared by a version's submitters and its workers.
pub(crate) struct Shared {
    pub intake: Mutex<Intake>,
    /// Requests routed to this version that are still tokenizing: the
    /// batcher waits for them (up to the delay) instead of running a partial
    /// batch, and does not wait when nothing is on its way.
    pub incoming: AtomicUsize,
    pub limits: BatchLimits,
    pub max_delay: Duration,
    pub metrics: VersionMetrics,
}

/// The queue's receiving end, and a job taken off it that did not fit the
/// batch being collected: it starts the next one.
pub(crate) struct Intake {
    pub rx: Receiver<Job>,
    pub carry: Option<Job>,
}

/// One session and its reusable input buffers.
pub(crate) struct Runner {
    backend: Backend,
    task: Task,
    ids: Vec<i64>,
    mask: Vec<i64>,
    types: Vec<i64>,
    scratch: Vec<f32>,
}

impl Runner {
    pub fn new(backend: Backend, task: Task) -> Self {
        Self { backend, task, ids: Vec::new(), mask: Vec::new(), types: Vec::new(), scratch: Vec::new() }
    }

    /// Runs `rows` as one batch padded to the longest of them; `emit(i, v)`
    /// receives row `i`'s head output. Returns the output width.
    pub fn run_chunk(&mut self, rows: &[&Row], mut emit: impl FnMut(usize, &[f32])) -> Result<usize, InferError> {
        let Self { backend, task, ids, mask, types, scratch } = self;
        let batch = rows.len();
        let seq = rows.iter().map(|r| r.len()).max().unwrap_or(0).max(1);
        let cells = batch * seq;
        for buf in [&mut *ids, &mut *mask, &mut *types] {
            buf.clear();
            buf.resize(cells, 0);
        }
        for (r, row) in rows.iter().enumerate() {
            let at = r * seq;
            ids[at..at + row.len()].copy_from_slice(&row.ids);
            let n_types = row.type_ids.len().min(seq);
            types[at..at + n_types].copy_from_slice(&row.type_ids[..n_types]);
            match &row.mask {
                Some(m) => mask[at..at + m.len()].copy_from_slice(m),
                None => mask[at..at + row.len()].fill(1),
            }
        }
        let input = Inputs { batch, seq, ids: ids.as_slice(), mask: mask.as_slice(), types: types.as_slice() };
        backend.run(&input, |dims, data| match &*task {
            Task::Embedding { pooling, normalize } => {
                let width = match dims[..] {
                    [b, s, w] if b == batch && s == seq && w > 0 => w,
                    _ => return Err(shape_error(dims, &[batch, seq])),
                };
                scratch.resize(width, 0.0);
                for r in 0..batch {
                    let hidden = &data[r * seq * width..(r + 1) * seq * width];
                    match pooling {
                        PoolingMode::Mean => {
                            mean_pool(hidden, &mask[r * seq..(r + 1) * seq], width, *normalize, scratch)
                        }
                        PoolingMode::Cls => cls_pool(hidden, width, *normalize, scratch),
                    }
                    emit(r, scratch);
                }
                Ok(width)
            }
            Task::Classification { labels } => {
                let width = match dims[..] {
                    [b, w] if b == batch && w == labels.len() => w,
                    _ => return Err(shape_error(dims, &[batch, labels.len()])),
                };
                scratch.resize(width, 0.0);
                for r in 0..batch {
                    softmax(&data[r * width..(r + 1) * width], scratch);
                    emit(r, scratch);
                }
                Ok(width)
            }
        })
    }

    /// Runs every row of `jobs` in chunks within `limits` and answers each job.
    fn run_jobs(&mut self, jobs: Vec<Job>, limits: BatchLimits, metrics: &VersionMetrics) {
        let mut outputs: Vec<Vec<f32>> = jobs.iter().map(|_| Vec::new()).collect();
        let index: Vec<(usize, usize)> =
            jobs.iter().enumerate().flat_map(|(j, job)| (0..job.rows.len()).map(move |r| (j, r))).collect();
        let mut width = 0;
        let mut failure = None;
        let lengths: Vec<usize> = index.iter().map(|&(j, r)| jobs[j].rows[r].len()).collect();
        for range in batch::chunks(&lengths, limits) {
            let chunk = &index[range];
            let rows: Vec<&Row> = chunk.iter().map(|&(j, r)| &jobs[j].rows[r]).collect();
            metrics.batch_size.observe(rows.len() as f64);
            let result = self.run_chunk(&rows, |i, v| {
                let (j, _) = chunk[i];
                outputs[j].extend_from_slice(v);
            });
            match result {
                Ok(w) => width = w,
                Err(e) => {
                    failure = Some(e.to_string());
                    break;
                }
            }
        }
        let embedding = matches!(self.task, Task::Embedding { .. });
        for (job, data) in jobs.into_iter().zip(outputs) {
            let reply = match &failure {
                Some(message) => Err(InferError::Runtime(message.clone())),
                None if embedding => Ok(Output::Embeddings { width, data }),
                None => Ok(Output::Probabilities { width, data }),
            };
            // The caller may have gone away (timeout, disconnect); nothing to do then.
            let _ = job.reply.send(reply);
        }
    }
}

fn shape_error(got: &[usize], want: &[usize]) -> InferError {
    InferError::Runtime(format!("the graph output has shape {got:?}, expected {want:?} leading dimensions"))
}

/// The worker thread's loop; returns when the queue is closed and empty.
pub(crate) fn run(shared: Arc<Shared>, mut runner: Runner) {
    while let Some(jobs) = collect(&shared) {
        runner.run_jobs(jobs, shared.limits, &shared.metrics);
    }
}

/// Takes the next batch: blocks for the first job, then takes what is queued
/// while it fits the limits, waiting up to the delay only while requests are on
/// their way. One worker collects at a time (the intake's lock); the others
/// are running the batches they collected.
fn collect(shared: &Shared) -> Option<Vec<Job>> {
    let mut intake = shared.intake.lock().ok()?;
    let first = match intake.carry.take() {
        Some(job) => job,
        None => {
            let job = intake.rx.recv().ok()?;
            shared.metrics.queue_depth.dec();
            job
        }
    };
    let deadline = first.enqueued.max(Instant::now()) + shared.max_delay;
    let mut rows = first.rows.len();
    let mut longest = longest_row(&first);
    let mut jobs = vec![first];
    while shared.limits.fits(rows + 1, longest) {
        let next = match intake.rx.try_recv() {
            Ok(job) => Some(job),
            Err(TryRecvError::Disconnected) => None,
            Err(TryRecvError::Empty) => {
                let now = Instant::now();
                if shared.incoming.load(Ordering::Acquire) == 0 || now >= deadline {
                    None
                } else {
                    intake.rx.recv_timeout(deadline - now).ok()
                }
            }
        };
        let Some(job) = next else { break };
        shared.metrics.queue_depth.dec();
        let grown = longest.max(longest_row(&job));
        if !shared.limits.fits(rows + job.rows.len(), grown) {
            intake.carry = Some(job);
            break;
        }
        rows += job.rows.len();
        longest = grown;
        jobs.push(job);
    }
    Some(jobs)
}

fn longest_row(job: &Job) -> usize {
    job.rows.iter().map(Row::len).max().unwrap_or(0)
}
