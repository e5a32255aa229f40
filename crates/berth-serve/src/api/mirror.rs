//! Mirrored requests: a copy of a request stable answered, sent to the canary on spare
//! capacity and compared with stable's answer. The client already has its answer; the
//! copy's only product is the pods' agreement metrics, which the operator's quality
//! gate reads.

use std::sync::Arc;
use std::time::Instant;

use super::{AppState, run, tensor::Payload};
use crate::engine::Output;
use crate::engine::similarity::{argmax, cosine};
use crate::manager::MirrorTicket;
use crate::metrics::Metrics;

/// `result`s of a mirrored copy (besides the manager's `dropped`).
pub const COMPARED: &str = "compared";
pub const INCOMPARABLE: &str = "incomparable";
pub const FAILED: &str = "failed";

/// Sends `payload` to the ticket's canary in the background and compares its answer
/// with `stable`'s; the ticket is released (and the copy's run time charged to the
/// mirror budget) once the canary has answered.
pub fn spawn(state: &AppState, model: &str, ticket: MirrorTicket, payload: Payload, stable: Output) {
    let metrics = state.metrics.clone();
    let model = model.to_string();
    tokio::spawn(async move {
        let started = Instant::now();
        let canary = Arc::clone(&ticket.version);
        let answer = run(&model, &canary, payload).await;
        drop(ticket);
        let version = canary.number.to_string();
        // The copy counts as a request of the canary, so a shadow step is judged on its
        // errors and latency too, not only on its agreement.
        let outcome = match &answer {
            Ok(_) => berth_api::metrics::RESULT_OK,
            Err(e) => e.category(),
        };
        metrics.observe_request(&model, &version, outcome, started.elapsed().as_secs_f64());
        record(&metrics, &model, &version, answer.map(|a| a.output).ok().as_ref(), &stable);
    });
}

fn record(metrics: &Metrics, model: &str, version: &str, canary: Option<&Output>, stable: &Output) {
    match canary.map(|c| agreement(stable, c)) {
        None => metrics.observe_mirrored(model, version, FAILED, &[]),
        Some(None) => metrics.observe_mirrored(model, version, INCOMPARABLE, &[]),
        Some(Some(per_input)) => metrics.observe_mirrored(model, version, COMPARED, &per_input),
    }
}

/// Per input: the cosine similarity of two embeddings, or 1 when two classifiers'
/// top labels are the same and 0 otherwise. `None` when the answers cannot be
/// compared (another kind of output, another width, another number of rows).
pub fn agreement(stable: &Output, canary: &Output) -> Option<Vec<f64>> {
    let (a, b, top_label) = match (stable, canary) {
        (Output::Embeddings { width: w, .. }, Output::Embeddings { width: v, .. }) if w == v => {
            (stable.rows()?, canary.rows()?, false)
        }
        (Output::Probabilities { width: w, .. }, Output::Probabilities { width: v, .. }) if w == v => {
            (stable.rows()?, canary.rows()?, true)
        }
        _ => return None,
    };
    if a.len() != b.len() {
        return None;
    }
    Some(
        a.iter()
            .zip(&b)
            .map(|(x, y)| if top_label { f64::from(argmax(x) == argmax(y)) } else { cosine(x, y) })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emb(width: usize, data: &[f32]) -> Output {
        Output::Embeddings { width, data: data.to_vec() }
    }

    #[test]
    fn embeddings_agree_by_cosine_per_input() {
        let a = emb(2, &[1.0, 0.0, 0.0, 2.0]);
        let b = emb(2, &[2.0, 0.0, 1.0, 1.0]);
        let got = agreement(&a, &b).unwrap_or_default();
        assert!((got[0] - 1.0).abs() < 1e-9 && (got[1] - std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-6, "{got:?}");
    }

    #[test]
    fn classifiers_agree_on_the_top_label() {
        let a = Output::Probabilities { width: 2, data: vec![0.9, 0.1, 0.4, 0.6] };
        let b = Output::Probabilities { width: 2, data: vec![0.6, 0.4, 0.7, 0.3] };
        assert_eq!(agreement(&a, &b), Some(vec![1.0, 0.0]));
    }

    #[test]
    fn other_widths_or_kinds_cannot_be_compared() {
        assert_eq!(agreement(&emb(2, &[1.0, 0.0]), &emb(1, &[1.0, 0.0])), None);
        let p = Output::Probabilities { width: 2, data: vec![0.5, 0.5] };
        assert_eq!(agreement(&emb(2, &[1.0, 0.0]), &p), None);
        assert_eq!(agreement(&emb(2, &[1.0, 0.0, 1.0, 0.0]), &emb(2, &[1.0, 0.0])), None);
    }
}
