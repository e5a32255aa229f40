//! What the version directory says about the model: the task (from
//! `config.json`'s `id2label`, or the manifest), the labels, and whether
//! embeddings are normalised.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::LoadError;
use super::manifest::Manifest;
use super::pooling::{self, PoolingMode};
use berth_api::{Normalize, Pooling};

/// What a version's graph output is turned into.
#[derive(Debug, Clone, PartialEq)]
pub enum Task {
    /// Pooling of the last hidden state (mean over the attention mask, or [CLS]).
    Embedding { pooling: PoolingMode, normalize: bool },
    /// Softmax over the logits; `labels[i]` names class `i`.
    Classification { labels: Vec<String> },
}

impl Task {
    pub fn name(&self) -> &'static str {
        match self {
            Task::Embedding { .. } => "embedding",
            Task::Classification { .. } => "classification",
        }
    }
}

/// The parts of HuggingFace's config.json that serving needs.
#[derive(Debug, Default, Deserialize)]
struct HfConfig {
    #[serde(default)]
    id2label: Option<BTreeMap<String, String>>,
    #[serde(default)]
    hidden_size: Option<usize>,
    #[serde(default)]
    vocab_size: Option<usize>,
    #[serde(default)]
    model_type: Option<String>,
}

/// Task and sizes of one version.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    pub task: Task,
    pub hidden_size: Option<usize>,
    pub vocab_size: Option<usize>,
    pub model_type: Option<String>,
}

pub fn read(dir: &Path, manifest: &Manifest, normalize: Normalize, pool: Pooling) -> Result<ModelInfo, LoadError> {
    let path = dir.join("config.json");
    let config: HfConfig = match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| LoadError::Config(e.to_string()))?,
        // config.json is optional when the manifest names the task.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && manifest.task.is_some() => HfConfig::default(),
        Err(e) => return Err(LoadError::io(path, e)),
    };
    let labels = match &manifest.labels {
        Some(labels) => Some(labels.clone()),
        None => config.id2label.as_ref().map(ordered_labels).transpose()?,
    };
    let task = match manifest.task.as_deref() {
        Some("classification") | Some("classifier") => Task::Classification {
            labels: labels
                .ok_or_else(|| LoadError::Config("task is classification but no id2label or labels".into()))?,
        },
        Some("embedding") => embedding(dir, manifest, normalize, pool)?,
        Some(other) => {
            return Err(LoadError::Config(format!("unknown task {other:?} (expected embedding or classification)")));
        }
        None => match labels {
            Some(labels) => Task::Classification { labels },
            None => embedding(dir, manifest, normalize, pool)?,
        },
    };
    if let Task::Classification { labels } = &task
        && labels.is_empty()
    {
        return Err(LoadError::Config("id2label is empty".into()));
    }
    Ok(ModelInfo {
        task,
        hidden_size: config.hidden_size,
        vocab_size: config.vocab_size,
        model_type: config.model_type,
    })
}

/// `{"0": "NEGATIVE", "1": "POSITIVE"}` -> `["NEGATIVE", "POSITIVE"]`; the
/// keys must be exactly 0..n.
fn ordered_labels(map: &BTreeMap<String, String>) -> Result<Vec<String>, LoadError> {
    let mut labels = vec![None; map.len()];
    for (key, label) in map {
        let index: usize =
            key.parse().map_err(|_| LoadError::Config(format!("id2label key {key:?} is not a number")))?;
        let slot = labels
            .get_mut(index)
            .ok_or_else(|| LoadError::Config(format!("id2label keys are not 0..{}", map.len())))?;
        *slot = Some(label.clone());
    }
    labels
        .into_iter()
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| LoadError::Config("id2label has duplicate keys".into()))
}

fn embedding(dir: &Path, manifest: &Manifest, normalize: Normalize, pool: Pooling) -> Result<Task, LoadError> {
    Ok(Task::Embedding {
        pooling: pooling::resolve(dir, manifest, pool)?,
        normalize: wants_normalize(dir, manifest, normalize),
    })
}

fn wants_normalize(dir: &Path, manifest: &Manifest, normalize: Normalize) -> bool {
    match normalize {
        Normalize::Always => true,
        Normalize::Never => false,
        Normalize::Auto => manifest.normalize.unwrap_or_else(|| {
            // sentence-transformers lists its pipeline in modules.json.
            std::fs::read_to_string(dir.join("modules.json")).map(|m| m.contains("models.Normalize")).unwrap_or(false)
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with_config(config: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), config).unwrap();
        dir
    }

    #[test]
    fn id2label_makes_a_classifier() {
        let dir = dir_with_config(r#"{"id2label": {"1": "POSITIVE", "0": "NEGATIVE"}, "hidden_size": 32}"#);
        let info = read(dir.path(), &Manifest::default(), Normalize::Auto, Pooling::Auto).unwrap();
        assert_eq!(info.task, Task::Classification { labels: vec!["NEGATIVE".into(), "POSITIVE".into()] });
        assert_eq!(info.hidden_size, Some(32));
    }

    #[test]
    fn no_labels_is_an_embedding_model() {
        let dir = dir_with_config(r#"{"hidden_size": 384}"#);
        let info = read(dir.path(), &Manifest::default(), Normalize::Auto, Pooling::Auto).unwrap();
        assert_eq!(info.task, Task::Embedding { pooling: PoolingMode::Mean, normalize: false });
        let info = read(dir.path(), &Manifest::default(), Normalize::Always, Pooling::Auto).unwrap();
        assert_eq!(info.task, Task::Embedding { pooling: PoolingMode::Mean, normalize: true });
        std::fs::write(dir.path().join("modules.json"), r#"[{"type": "sentence_transformers.models.Normalize"}]"#)
            .unwrap();
        let info = read(dir.path(), &Manifest::default(), Normalize::Auto, Pooling::Auto).unwrap();
        assert_eq!(info.task, Task::Embedding { pooling: PoolingMode::Mean, normalize: true });
    }

    #[test]
    fn bad_configs_are_errors() {
        for bad in
            ["{nope", r#"{"id2label": {"0": "A", "2": "B"}}"#, r#"{"id2label": {"x": "A"}}"#, r#"{"id2label": {}}"#]
        {
            let dir = dir_with_config(bad);
            let err = read(dir.path(), &Manifest::default(), Normalize::Auto, Pooling::Auto).unwrap_err();
            assert_eq!(err.category(), "config", "{bad}: {err}");
        }
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            read(dir.path(), &Manifest::default(), Normalize::Auto, Pooling::Auto).unwrap_err().category(),
            "io"
        );
    }
}
