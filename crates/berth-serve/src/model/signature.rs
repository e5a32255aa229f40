//! Checks that a graph takes what BERT takes (`input_ids`, `attention_mask`,
//! optional `token_type_ids`, integer `[batch, sequence]`) and produces what the
//! task needs (a [batch, seq, hidden] float output for embeddings, [batch, labels]
//! logits for classification). Each backend describes its graph (ONNX inputs and
//! outputs, a SavedModel's SignatureDef) as [`TensorDesc`]s; the rules are shared.

use super::{LoadError, Task};

/// Element type of a graph input or output, as far as the check cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Elem {
    Int64,
    Int32,
    Float32,
    /// Anything else (or not a tensor), with the backend's name for it.
    Other(String),
}

impl std::fmt::Display for Elem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Elem::Int64 => f.write_str("int64"),
            Elem::Int32 => f.write_str("int32"),
            Elem::Float32 => f.write_str("float32"),
            Elem::Other(name) => f.write_str(name),
        }
    }
}

/// A graph input or output as far as the check needs it.
#[derive(Debug, Clone)]
pub struct TensorDesc {
    pub name: String,
    pub elem: Elem,
    /// -1 for a dynamic dimension; empty for an unknown rank.
    pub shape: Vec<i64>,
}

/// What the batcher must feed and read.
#[derive(Debug, Clone)]
pub struct Signature {
    pub has_token_type_ids: bool,
    /// Output the task head reads.
    pub output: String,
    /// Hidden size (embedding) or label count (classification) when the
    /// graph declares it statically.
    pub output_width: Option<usize>,
}

pub const INPUT_IDS: &str = "input_ids";
pub const ATTENTION_MASK: &str = "attention_mask";
pub const TOKEN_TYPE_IDS: &str = "token_type_ids";

/// `input_types` are the integer types the backend can feed (ONNX Runtime is
/// fed int64 only; a SavedModel may also take int32).
pub fn check(
    inputs: &[TensorDesc],
    outputs: &[TensorDesc],
    task: &Task,
    input_types: &[Elem],
) -> Result<Signature, LoadError> {
    for required in [INPUT_IDS, ATTENTION_MASK] {
        if !inputs.iter().any(|i| i.name == required) {
            return Err(LoadError::Signature(format!("the graph has no {required} input (inputs: {})", names(inputs))));
        }
    }
    for input in inputs {
        if ![INPUT_IDS, ATTENTION_MASK, TOKEN_TYPE_IDS].contains(&input.name.as_str()) {
            return Err(LoadError::Signature(format!(
                "input {} is not one a BERT model takes (input_ids, attention_mask, token_type_ids)",
                input.name
            )));
        }
        if !input_types.contains(&input.elem) {
            let allowed = input_types.iter().map(Elem::to_string).collect::<Vec<_>>().join(" or ");
            return Err(LoadError::Signature(format!(
                "input {} must be {allowed}, the graph has {}",
                input.name, input.elem
            )));
        }
        if input.shape.len() != 2 {
            return Err(LoadError::Signature(format!(
                "input {} must be [batch, sequence], the graph has rank {}",
                input.name,
                input.shape.len()
            )));
        }
    }
    let (preferred, rank): (&[&str], usize) = match task {
        Task::Embedding { .. } => (&["last_hidden_state", "token_embeddings"], 3),
        Task::Classification { .. } => (&["logits"], 2),
    };
    let is_float_of_rank = |o: &&TensorDesc| o.elem == Elem::Float32 && o.shape.len() == rank;
    let output = preferred
        .iter()
        .find_map(|p| outputs.iter().filter(is_float_of_rank).find(|o| o.name == *p))
        .or_else(|| outputs.iter().find(is_float_of_rank))
        .ok_or_else(|| {
            LoadError::Signature(format!(
                "a {} model needs a float32 output of rank {rank} (outputs: {})",
                task.name(),
                names(outputs)
            ))
        })?;
    let output_width = output.shape.last().and_then(|&d| usize::try_from(d).ok()).filter(|&d| d > 0);
    if let (Task::Classification { labels }, Some(width)) = (task, output_width)
        && width != labels.len()
    {
        return Err(LoadError::Signature(format!(
            "output {} has {width} classes but config.json names {} labels",
            output.name,
            labels.len()
        )));
    }
    Ok(Signature {
        has_token_type_ids: inputs.iter().any(|i| i.name == TOKEN_TYPE_IDS),
        output: output.name.clone(),
        output_width,
    })
}

fn names(list: &[TensorDesc]) -> String {
    list.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const INT64: &[Elem] = &[Elem::Int64];

    fn t(name: &str, elem: Elem, shape: &[i64]) -> TensorDesc {
        TensorDesc { name: name.into(), elem, shape: shape.to_vec() }
    }

    fn bert_inputs(with_types: bool) -> Vec<TensorDesc> {
        let mut v = vec![t(INPUT_IDS, Elem::Int64, &[-1, -1]), t(ATTENTION_MASK, Elem::Int64, &[-1, -1])];
        if with_types {
            v.push(t(TOKEN_TYPE_IDS, Elem::Int64, &[-1, -1]));
        }
        v
    }

    #[test]
    fn embedding_graph_passes() {
        let outputs = vec![t("last_hidden_state", Elem::Float32, &[-1, -1, 384])];
        let sig = check(
            &bert_inputs(true),
            &outputs,
            &Task::Embedding { pooling: crate::model::PoolingMode::Mean, normalize: false },
            INT64,
        )
        .unwrap();
        assert!(sig.has_token_type_ids);
        assert_eq!(sig.output, "last_hidden_state");
        assert_eq!(sig.output_width, Some(384));
        let sig = check(
            &bert_inputs(false),
            &outputs,
            &Task::Embedding { pooling: crate::model::PoolingMode::Mean, normalize: true },
            INT64,
        )
        .unwrap();
        assert!(!sig.has_token_type_ids);
    }

    #[test]
    fn classifier_needs_matching_logits() {
        let task = Task::Classification { labels: vec!["NEGATIVE".into(), "POSITIVE".into()] };
        let good = vec![t("logits", Elem::Float32, &[-1, 2])];
        assert_eq!(check(&bert_inputs(true), &good, &task, INT64).unwrap().output, "logits");
        let wrong = vec![t("logits", Elem::Float32, &[-1, 3])];
        assert!(check(&bert_inputs(true), &wrong, &task, INT64).is_err());
        // An embedding graph cannot serve a classification config.
        let hidden = vec![t("last_hidden_state", Elem::Float32, &[-1, -1, 8])];
        let err = check(&bert_inputs(true), &hidden, &task, INT64).unwrap_err();
        assert!(err.to_string().contains("rank 2"), "{err}");
    }

    #[test]
    fn wrong_inputs_are_rejected() {
        let outputs = vec![t("last_hidden_state", Elem::Float32, &[-1, -1, 8])];
        let task = Task::Embedding { pooling: crate::model::PoolingMode::Mean, normalize: false };
        let missing = vec![t(INPUT_IDS, Elem::Int64, &[-1, -1])];
        assert!(check(&missing, &outputs, &task, INT64).unwrap_err().to_string().contains("attention_mask"));
        let mut extra = bert_inputs(false);
        extra.push(t("pixel_values", Elem::Float32, &[-1, 3]));
        assert!(check(&extra, &outputs, &task, INT64).unwrap_err().to_string().contains("pixel_values"));
        let int32 = vec![t(INPUT_IDS, Elem::Int32, &[-1, -1]), t(ATTENTION_MASK, Elem::Int64, &[-1, -1])];
        assert!(check(&int32, &outputs, &task, INT64).unwrap_err().to_string().contains("int64"));
        // A backend that can feed int32 (a SavedModel) accepts it.
        assert!(check(&int32, &outputs, &task, &[Elem::Int64, Elem::Int32]).is_ok());
    }
}
