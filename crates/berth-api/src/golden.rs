//! Golden sets: texts with the answer a version must give, kept in a ConfigMap that
//! `spec.rollout.goldenSet` names. Each serving pod evaluates a freshly loaded canary on
//! it before the canary may take mirrored or live traffic; a canary that fails is
//! rejected as `GoldenSet` and never answers a client. The spec, the file format and its
//! parser live here so the pods and any tool read them the same way.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `spec.rollout.goldenSet`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GoldenSetSpec {
    /// The ConfigMap, in the BertModel's namespace, that holds the golden set. The
    /// serving pods are allowed to read this one ConfigMap and no other.
    #[schemars(regex(pattern = CONFIG_MAP_NAME_PATTERN), length(min = 1, max = 253))]
    pub config_map: String,
    /// The ConfigMap key whose value is the golden set: JSON Lines, one example a line,
    /// `{"text": "...", "label": "..."}` for classifiers or
    /// `{"text": "...", "embedding": [...]}` for embedding models.
    #[serde(default = "default_key")]
    #[schemars(regex(pattern = CONFIG_MAP_KEY_PATTERN), length(min = 1, max = 253))]
    pub key: String,
    /// Classifiers: the least share of examples whose top label must be the expected
    /// one (0-1).
    #[serde(default = "default_min_accuracy")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub min_accuracy: f64,
    /// Embedding models: the least mean cosine similarity of the version's embeddings to
    /// the reference vectors (-1 to 1).
    #[serde(default = "default_min_similarity")]
    #[schemars(range(min = -1.0, max = 1.0))]
    pub min_similarity: f64,
}

pub const DEFAULT_KEY: &str = "golden.jsonl";
/// A DNS-1123 subdomain, what Kubernetes requires of a ConfigMap's name: the schema's
/// form of `validate::is_dns_subdomain` (tests/golden_names.rs holds the two together).
pub const CONFIG_MAP_NAME_PATTERN: &str =
    r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$";
/// What Kubernetes allows as a ConfigMap key, "." and ".." excepted (RE2 has no
/// lookahead): the schema's form of `validate::is_config_map_key`.
pub const CONFIG_MAP_KEY_PATTERN: &str =
    r"^([-_a-zA-Z0-9][-._a-zA-Z0-9]*|\.[-_a-zA-Z0-9][-._a-zA-Z0-9]*|\.\.[-._a-zA-Z0-9]+)$";

/// The `error_code` a pod's model status gives a version that loaded but failed its
/// golden set (TF Serving's status shape; every other load error is `UNKNOWN`), so the
/// operator tells the two apart without reading the message.
pub const FAILED_STATUS_CODE: &str = "FAILED_PRECONDITION";

fn default_key() -> String {
    DEFAULT_KEY.to_string()
}
fn default_min_accuracy() -> f64 {
    0.9
}
fn default_min_similarity() -> f64 {
    0.98
}

/// One example of a golden set.
#[derive(Debug, Clone, PartialEq)]
pub enum GoldenExample {
    Label { text: String, label: String },
    Embedding { text: String, embedding: Vec<f32> },
}

impl GoldenExample {
    pub fn text(&self) -> &str {
        match self {
            Self::Label { text, .. } | Self::Embedding { text, .. } => text,
        }
    }
}

/// A parsed golden set: every example of one kind, so one threshold applies.
#[derive(Debug, Clone, PartialEq)]
pub enum GoldenSet {
    Labels(Vec<(String, String)>),
    Embeddings(Vec<(String, Vec<f32>)>),
}

impl GoldenSet {
    pub fn len(&self) -> usize {
        match self {
            Self::Labels(v) => v.len(),
            Self::Embeddings(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What is wrong with a golden set's text, with the line it is on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GoldenSetError {
    #[error("line {line}: {message}")]
    Line { line: usize, message: String },
    #[error("the golden set has no examples")]
    Empty,
    #[error("line {line} has \"{found}\" but line 1 has \"{first}\": every example of a golden set is of one kind")]
    Mixed { line: usize, first: &'static str, found: &'static str },
    #[error("line {line}: the embedding has {found} values, line 1's has {first}")]
    Widths { line: usize, first: usize, found: usize },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    text: String,
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    embedding: Option<Vec<f32>>,
}

/// Parses JSON Lines (blank lines skipped) into a golden set of one kind.
pub fn parse(text: &str) -> Result<GoldenSet, GoldenSetError> {
    let mut examples = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let raw = raw.trim();
        if raw.is_empty() {
            continue;
        }
        let err = |message: String| GoldenSetError::Line { line, message };
        let parsed: Line = serde_json::from_str(raw).map_err(|e| err(e.to_string()))?;
        if parsed.text.is_empty() {
            return Err(err("\"text\" is empty".into()));
        }
        let example = match (parsed.label, parsed.embedding) {
            (Some(label), None) => GoldenExample::Label { text: parsed.text, label },
            (None, Some(embedding)) if embedding.is_empty() => return Err(err("\"embedding\" is empty".into())),
            (None, Some(embedding)) if embedding.iter().any(|x| !x.is_finite()) => {
                return Err(err("\"embedding\" has a value that is not a finite number".into()));
            }
            (None, Some(embedding)) => GoldenExample::Embedding { text: parsed.text, embedding },
            (Some(_), Some(_)) => return Err(err("has both \"label\" and \"embedding\"; give one".into())),
            (None, None) => {
                return Err(err("needs \"label\" (classifiers) or \"embedding\" (embedding models)".into()));
            }
        };
        examples.push((line, example));
    }
    let kind = |e: &GoldenExample| match e {
        GoldenExample::Label { .. } => "label",
        GoldenExample::Embedding { .. } => "embedding",
    };
    let Some((_, first)) = examples.first() else { return Err(GoldenSetError::Empty) };
    let first_kind = kind(first);
    let first_width = match first {
        GoldenExample::Embedding { embedding, .. } => embedding.len(),
        GoldenExample::Label { .. } => 0,
    };
    let mut labels = Vec::new();
    let mut embeddings = Vec::new();
    for (line, example) in examples {
        if kind(&example) != first_kind {
            return Err(GoldenSetError::Mixed { line, first: first_kind, found: kind(&example) });
        }
        match example {
            GoldenExample::Label { text, label } => labels.push((text, label)),
            GoldenExample::Embedding { text, embedding } => {
                if embedding.len() != first_width {
                    return Err(GoldenSetError::Widths { line, first: first_width, found: embedding.len() });
                }
                embeddings.push((text, embedding));
            }
        }
    }
    Ok(if labels.is_empty() { GoldenSet::Embeddings(embeddings) } else { GoldenSet::Labels(labels) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_embeddings_parse() {
        let set =
            parse("{\"text\": \"good\", \"label\": \"POSITIVE\"}\n\n{\"text\": \"bad\", \"label\": \"NEGATIVE\"}\n");
        assert_eq!(
            set,
            Ok(GoldenSet::Labels(vec![("good".into(), "POSITIVE".into()), ("bad".into(), "NEGATIVE".into())]))
        );
        let set = parse("{\"text\": \"a\", \"embedding\": [1, 0.5]}").unwrap_or(GoldenSet::Labels(vec![]));
        assert_eq!(set, GoldenSet::Embeddings(vec![("a".into(), vec![1.0, 0.5])]));
    }

    #[test]
    fn bad_lines_are_named() {
        let cases = [
            ("", "no examples"),
            ("{\"text\": \"a\"}", "line 1: needs \"label\""),
            (
                "{\"text\": \"a\", \"label\": \"x\"}\n{\"text\": \"b\", \"embedding\": [1]}",
                "line 2 has \"embedding\" but line 1 has \"label\"",
            ),
            (
                "{\"text\": \"a\", \"embedding\": [1, 2]}\n{\"text\": \"b\", \"embedding\": [1]}",
                "line 2: the embedding has 1",
            ),
            ("{\"text\": \"a\", \"lable\": \"x\"}", "line 1: unknown field `lable`"),
            ("{\"text\": \"\", \"label\": \"x\"}", "\"text\" is empty"),
            ("not json", "line 1:"),
        ];
        for (text, expected) in cases {
            let message = parse(text).map(|_| String::new()).unwrap_or_else(|e| e.to_string());
            assert!(message.contains(expected), "{text:?}: {message:?} lacks {expected:?}");
        }
    }
}
