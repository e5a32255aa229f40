//! Classify: `tf.Example`s carrying a text in a bytes feature in, per
//! example every class with its probability out. The same rules serve gRPC
//! (`Input` protos) and REST (`{"examples": [{"text": "..."}]}`).

use std::collections::BTreeMap;

use crate::api::InferResult;
use crate::engine::Output;
use crate::engine::Version;
use crate::model::Task;
use crate::tfs_proto::tensorflow::Example;
use crate::tfs_proto::tensorflow::feature::Kind;
use crate::tfs_proto::tensorflow::serving::Input;
use crate::tfs_proto::tensorflow::serving::input::Kind as InputKind;

use super::TfsError;

/// The feature that holds the text, when an example has several.
pub const TEXT_FEATURE: &str = "text";

/// The bytes features of one example: name -> values. Numeric features are
/// kept as empty lists so "the only bytes feature" ignores them.
pub type BytesFeatures = BTreeMap<String, Option<Vec<Vec<u8>>>>;

pub fn features(example: &Example) -> BytesFeatures {
    let Some(f) = &example.features else { return BytesFeatures::new() };
    f.feature
        .iter()
        .map(|(name, feat)| {
            let bytes = match &feat.kind {
                Some(Kind::BytesList(b)) => Some(b.value.clone()),
                _ => None,
            };
            (name.clone(), bytes)
        })
        .collect()
}

/// The examples of a request, each merged with the context (an example's
/// own features win, as in TF Serving).
pub fn examples(input: Option<Input>) -> Result<Vec<BytesFeatures>, TfsError> {
    let (list, context) = match input.and_then(|i| i.kind) {
        Some(InputKind::ExampleList(l)) => (l.examples, BytesFeatures::new()),
        Some(InputKind::ExampleListWithContext(l)) => {
            (l.examples, l.context.as_ref().map(features).unwrap_or_default())
        }
        None => return Err(TfsError::bad("Input is empty: send input.example_list")),
    };
    Ok(list.iter().map(|e| merge(features(e), &context)).collect())
}

pub fn merge(mut example: BytesFeatures, context: &BytesFeatures) -> BytesFeatures {
    for (k, v) in context {
        example.entry(k.clone()).or_insert_with(|| v.clone());
    }
    example
}

/// The text of each example: feature `text`, else the only bytes feature.
pub fn texts(examples: Vec<BytesFeatures>) -> Result<Vec<String>, TfsError> {
    if examples.is_empty() {
        return Err(TfsError::bad("Input is empty: no examples"));
    }
    examples.into_iter().enumerate().map(|(i, ex)| text(i, ex)).collect()
}

fn text(i: usize, mut ex: BytesFeatures) -> Result<String, TfsError> {
    let values = match ex.remove(TEXT_FEATURE) {
        Some(Some(values)) => values,
        Some(None) => return Err(TfsError::bad(format!("example {i}: feature {TEXT_FEATURE:?} is not a bytes list"))),
        None => {
            let mut bytes = ex.into_iter().filter_map(|(k, v)| Some((k, v?)));
            match (bytes.next(), bytes.next()) {
                (Some((_, values)), None) => values,
                (None, _) => return Err(TfsError::bad(format!("example {i} has no bytes feature holding a text"))),
                (Some((a, _)), Some((b, _))) => {
                    return Err(TfsError::bad(format!(
                        "example {i} has several bytes features ({a}, {b}, ...): name the text {TEXT_FEATURE:?}"
                    )));
                }
            }
        }
    };
    let [value] = <[Vec<u8>; 1]>::try_from(values).map_err(|v| {
        TfsError::bad(format!("example {i}: the text feature has {} values; it needs exactly one", v.len()))
    })?;
    String::from_utf8(value).map_err(|_| TfsError::bad(format!("example {i}: the text is not valid UTF-8")))
}

/// Refuses models that do not classify, before any work is done.
pub fn check_classifier(model: &str, v: &Version) -> Result<(), TfsError> {
    match &v.info.task {
        Task::Classification { .. } => Ok(()),
        other => Err(TfsError::FailedPrecondition(format!(
            "model {model} version {} is not a classifier (its task is {}): Classify needs a classification model; \
             use Predict",
            v.number,
            other.name()
        ))),
    }
}

/// Per example, every (label, probability) in label order.
pub fn classes(result: &InferResult) -> Result<Vec<Vec<(String, f32)>>, TfsError> {
    let Output::Probabilities { width, data } = &result.output else {
        return Err(TfsError::FailedPrecondition(format!("model {} is not a classifier", result.model)));
    };
    let labels = result.labels.as_deref().unwrap_or(&[]);
    let label = |j: usize| labels.get(j).cloned().unwrap_or_else(|| j.to_string());
    Ok(data.chunks((*width).max(1)).map(|row| row.iter().enumerate().map(|(j, p)| (label(j), *p)).collect()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(pairs: &[(&str, Option<&[&str]>)]) -> BytesFeatures {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.map(|v| v.iter().map(|s| s.as_bytes().to_vec()).collect())))
            .collect()
    }

    #[test]
    fn text_feature_or_the_only_bytes_feature() {
        let got = texts(vec![
            ex(&[("text", Some(&["a"])), ("other", Some(&["x"]))]),
            ex(&[("sentence", Some(&["b"])), ("n", None)]),
        ])
        .unwrap();
        assert_eq!(got, ["a", "b"]);
        for (bad, want) in [
            (ex(&[("a", Some(&["x"])), ("b", Some(&["y"]))]), "several"),
            (ex(&[("n", None)]), "no bytes feature"),
            (ex(&[("text", None)]), "not a bytes list"),
            (ex(&[("text", Some(&["x", "y"]))]), "exactly one"),
        ] {
            let err = texts(vec![bad]).unwrap_err();
            assert!(err.to_string().contains(want), "{err}");
        }
        assert!(texts(vec![]).unwrap_err().to_string().contains("empty"));
    }

    #[test]
    fn context_fills_in() {
        let context = ex(&[("text", Some(&["ctx"]))]);
        let merged = merge(ex(&[("n", None)]), &context);
        assert_eq!(texts(vec![merged]).unwrap(), ["ctx"]);
        let own = merge(ex(&[("text", Some(&["own"]))]), &context);
        assert_eq!(texts(vec![own]).unwrap(), ["own"]);
    }
}
