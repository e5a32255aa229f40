//! The golden-set gate: a freshly loaded canary answers the golden set
//! (`spec.rollout.goldenSet`) before it is AVAILABLE. A version that misses the
//! threshold is unloaded again and reported as END with a `FAILED_PRECONDITION`
//! status, so it never answers a client, mirrored copies included, and the operator
//! rejects it as `GoldenSet`.

use std::sync::Arc;

use berth_api::GoldenSet;

use super::VersionId;
use crate::engine::similarity::{argmax, cosine};
use crate::engine::{Output, Version};
use crate::model::Task;

/// The load-error category of a version that failed its golden set.
pub const FAILED_CATEGORY: &str = "golden_set";

/// A golden set and the thresholds it is judged by.
#[derive(Debug, Clone, PartialEq)]
pub struct GoldenCheck {
    /// Where it came from (`configmap/key`), for messages.
    pub source: String,
    pub set: GoldenSet,
    pub min_accuracy: f64,
    pub min_similarity: f64,
}

/// The gate for one version: the check it must pass, or why the golden set could not
/// be read (then the version fails: a canary is never let through unjudged).
#[derive(Debug, Clone, PartialEq)]
pub struct GoldenGate {
    pub version: VersionId,
    pub check: Result<Arc<GoldenCheck>, String>,
}

/// A passed golden set: the score (accuracy or mean cosine) and how many examples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GoldenScore {
    pub score: f64,
    pub examples: usize,
}

/// Runs every example through `version` in batches of `batch` and judges the answers.
/// Err is the message a failed version is reported with.
pub async fn evaluate(version: &Version, check: &GoldenCheck, batch: usize) -> Result<GoldenScore, String> {
    let texts: Vec<&str> = match &check.set {
        GoldenSet::Labels(v) => v.iter().map(|(t, _)| t.as_str()).collect(),
        GoldenSet::Embeddings(v) => v.iter().map(|(t, _)| t.as_str()).collect(),
    };
    let mut outputs = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(batch.max(1)) {
        let (rows, _) = version.tokenize(chunk).map_err(|e| format!("tokenizing {}: {e}", check.source))?;
        let output = version.run(rows).await.map_err(|e| format!("running {}: {e}", check.source))?;
        outputs.push(output);
    }
    match (&check.set, &version.info.task) {
        (GoldenSet::Labels(examples), Task::Classification { labels }) => {
            judge_labels(examples, labels, &outputs, check)
        }
        (GoldenSet::Embeddings(examples), Task::Embedding { .. }) => judge_embeddings(examples, &outputs, check),
        (set, task) => Err(format!(
            "{} holds {} but version {} is a {} model",
            check.source,
            match set {
                GoldenSet::Labels(_) => "expected labels",
                GoldenSet::Embeddings(_) => "reference embeddings",
            },
            version.number,
            task.name()
        )),
    }
}

/// Rows of every output in order (an output that is not whole rows gives none, so its
/// examples count as misses).
fn rows(outputs: &[Output]) -> impl Iterator<Item = &[f32]> {
    outputs.iter().filter_map(Output::rows).flatten()
}

fn judge_labels(
    examples: &[(String, String)],
    labels: &[String],
    outputs: &[Output],
    check: &GoldenCheck,
) -> Result<GoldenScore, String> {
    let mut correct = 0usize;
    let mut first_miss = None;
    for ((text, expected), probs) in examples.iter().zip(rows(outputs)) {
        let got = argmax(probs).and_then(|i| labels.get(i)).map(String::as_str).unwrap_or("");
        if got == expected {
            correct += 1;
        } else if first_miss.is_none() {
            first_miss = Some(format!("{text:?} expected {expected:?}, got {got:?}"));
        }
    }
    let accuracy = correct as f64 / examples.len().max(1) as f64;
    let score = GoldenScore { score: accuracy, examples: examples.len() };
    if accuracy >= check.min_accuracy {
        return Ok(score);
    }
    Err(format!(
        "accuracy {accuracy:.4} ({correct} of {}) on {} is below minAccuracy {}; first miss: {}",
        examples.len(),
        check.source,
        check.min_accuracy,
        first_miss.unwrap_or_default()
    ))
}

fn judge_embeddings(
    examples: &[(String, Vec<f32>)],
    outputs: &[Output],
    check: &GoldenCheck,
) -> Result<GoldenScore, String> {
    let width = outputs.first().map(Output::width).unwrap_or(0);
    let reference = examples.first().map(|(_, e)| e.len()).unwrap_or(0);
    if width != reference {
        return Err(format!(
            "the version's embeddings have {width} dimensions, the reference vectors of {} have {reference}",
            check.source
        ));
    }
    let mut sum = 0.0f64;
    let mut worst: Option<(f64, &str)> = None;
    for ((text, expected), got) in examples.iter().zip(rows(outputs)) {
        let c = cosine(got, expected);
        sum += c;
        if worst.is_none_or(|(w, _)| c < w) {
            worst = Some((c, text));
        }
    }
    let mean = sum / examples.len().max(1) as f64;
    if mean >= check.min_similarity {
        return Ok(GoldenScore { score: mean, examples: examples.len() });
    }
    let (low, text) = worst.unwrap_or((mean, ""));
    Err(format!(
        "mean cosine similarity {mean:.4} to the reference vectors of {} is below minSimilarity {}; lowest {low:.4} on {text:?}",
        check.source, check.min_similarity
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(set: GoldenSet) -> GoldenCheck {
        GoldenCheck { source: "golden/golden.jsonl".into(), set, min_accuracy: 0.75, min_similarity: 0.98 }
    }

    fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(t, l)| (t.to_string(), l.to_string())).collect()
    }

    #[test]
    fn accuracy_is_top_label_agreement_across_batches() {
        let examples = labels(&[("a", "pos"), ("b", "neg"), ("c", "pos"), ("d", "neg")]);
        let names = vec!["neg".to_string(), "pos".to_string()];
        // Two batches, as the gate runs them: rows a, b then c, d.
        let outputs = vec![
            Output::Probabilities { width: 2, data: vec![0.1, 0.9, 0.8, 0.2] },
            Output::Probabilities { width: 2, data: vec![0.3, 0.7, 0.4, 0.6] },
        ];
        let c = check(GoldenSet::Labels(examples.clone()));
        assert_eq!(judge_labels(&examples, &names, &outputs, &c), Ok(GoldenScore { score: 0.75, examples: 4 }));
        // Swapped label names: every answer is wrong.
        let swapped = vec!["pos".to_string(), "neg".to_string()];
        let err = judge_labels(&examples, &swapped, &outputs, &c).unwrap_err();
        assert!(err.contains("accuracy 0.2500 (1 of 4)") && err.contains("below minAccuracy 0.75"), "{err}");
        assert!(err.contains(r#""a" expected "pos", got "neg""#), "{err}");
    }

    #[test]
    fn embeddings_are_judged_by_mean_cosine_and_width() {
        let examples = vec![("x".to_string(), vec![1.0, 0.0]), ("y".to_string(), vec![0.0, 2.0])];
        let c = check(GoldenSet::Embeddings(examples.clone()));
        let same = vec![Output::Embeddings { width: 2, data: vec![3.0, 0.0, 0.0, 0.5] }];
        let score = judge_embeddings(&examples, &same, &c).unwrap();
        assert!((score.score - 1.0).abs() < 1e-9);
        let rotated = vec![Output::Embeddings { width: 2, data: vec![1.0, 0.0, 1.0, 0.0] }];
        let err = judge_embeddings(&examples, &rotated, &c).unwrap_err();
        assert!(err.contains("mean cosine similarity 0.5000") && err.contains(r#"lowest 0.0000 on "y""#), "{err}");
        let narrower = vec![Output::Embeddings { width: 1, data: vec![1.0, 1.0] }];
        let err = judge_embeddings(&examples, &narrower, &c).unwrap_err();
        assert!(err.contains("have 1 dimensions") && err.contains("have 2"), "{err}");
    }
}
