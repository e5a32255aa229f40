//! Protocol-neutral tensors: REST and gRPC both decode their wire format into
//! [`InputTensor`]s, and both encode the same [`OutputTensor`]s. The rules
//! about which inputs make a valid request live here, once.

use crate::engine::{Output, Row};
use crate::model::signature::{ATTENTION_MASK, INPUT_IDS, TOKEN_TYPE_IDS};

use super::ApiError;

pub const TEXT: &str = "text";
pub const EMBEDDING: &str = "embedding";
pub const PROBABILITIES: &str = "probabilities";
pub const LABEL: &str = "label";

#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    Bytes(Vec<Vec<u8>>),
    Int64(Vec<i64>),
}

impl TensorData {
    fn len(&self) -> usize {
        match self {
            TensorData::Bytes(v) => v.len(),
            TensorData::Int64(v) => v.len(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct InputTensor {
    pub name: String,
    pub datatype: String,
    pub shape: Vec<i64>,
    pub data: TensorData,
}

/// What a request asks to run.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    Texts(Vec<String>),
    Rows(Vec<Row>),
}

/// Number of elements `shape` describes; errors on negative dimensions.
pub fn element_count(name: &str, shape: &[i64]) -> Result<usize, ApiError> {
    shape.iter().try_fold(1usize, |acc, &d| {
        let d = usize::try_from(d)
            .map_err(|_| ApiError::bad(format!("input {name}: negative dimension in shape {shape:?}")))?;
        acc.checked_mul(d).ok_or_else(|| ApiError::bad(format!("input {name}: shape {shape:?} is too large")))
    })
}

/// An input the model does not have: refused like Triton does, naming what the model
/// takes (its metadata's inputs), so a client with a typo hears about it instead of
/// having its input read as something else.
fn unexpected(name: &str) -> ApiError {
    let expected: Vec<String> = super::input_meta().iter().map(|m| format!("{} ({})", m.name, m.datatype)).collect();
    ApiError::bad(format!(
        "unexpected inference input {name:?}: the model's inputs are {} (texts as BYTES, or INT64 input_ids \
         with optional attention_mask and token_type_ids)",
        expected.join(", ")
    ))
}

/// Open Inference Protocol V2: the inputs' names and datatypes must be the model's
/// (its metadata), as Triton checks them; then [`payload`].
pub fn v2_payload(inputs: Vec<InputTensor>) -> Result<Payload, ApiError> {
    let expected = super::input_meta();
    for t in &inputs {
        let meta = expected.iter().find(|m| m.name == t.name).ok_or_else(|| unexpected(&t.name))?;
        if meta.datatype != t.datatype {
            return Err(ApiError::bad(format!(
                "input {}: datatype must be {}, got {}",
                t.name, meta.datatype, t.datatype
            )));
        }
    }
    payload(inputs)
}

/// Validates the inputs and turns them into texts or token rows.
///
/// A BYTES input is the texts whatever its name: TF Serving clients name it after
/// their own signature's alias. V2 is stricter: [`v2_payload`].
pub fn payload(inputs: Vec<InputTensor>) -> Result<Payload, ApiError> {
    if inputs.is_empty() {
        return Err(ApiError::bad("the request has no inputs"));
    }
    for t in &inputs {
        let count = element_count(&t.name, &t.shape)?;
        if count != t.data.len() {
            return Err(ApiError::bad(format!(
                "input {}: shape {:?} holds {count} elements but {} were given",
                t.name,
                t.shape,
                t.data.len()
            )));
        }
    }
    if inputs.iter().any(|t| t.datatype == "BYTES") {
        return texts(inputs);
    }
    token_rows(inputs)
}

fn texts(mut inputs: Vec<InputTensor>) -> Result<Payload, ApiError> {
    if inputs.len() != 1 {
        let names: Vec<&str> = inputs.iter().map(|t| t.name.as_str()).collect();
        return Err(ApiError::bad(format!("a text request has exactly one BYTES input; got {}", names.join(", "))));
    }
    let t = inputs.remove(0);
    // [n] or [n, 1] (what batching clients send).
    let rank_ok = matches!(t.shape.as_slice(), [_] | [_, 1]);
    if !rank_ok {
        return Err(ApiError::bad(format!(
            "input {}: a BYTES input has shape [n] or [n, 1], got {:?}",
            t.name, t.shape
        )));
    }
    let TensorData::Bytes(items) = t.data else {
        return Err(ApiError::bad(format!("input {}: datatype BYTES but the data is not strings", t.name)));
    };
    if items.is_empty() {
        return Err(ApiError::bad(format!("input {}: empty input, no texts given", t.name)));
    }
    let texts = items
        .into_iter()
        .enumerate()
        .map(|(i, b)| {
            String::from_utf8(b).map_err(|_| ApiError::bad(format!("input {}: element {i} is not valid UTF-8", t.name)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Payload::Texts(texts))
}

fn token_rows(inputs: Vec<InputTensor>) -> Result<Payload, ApiError> {
    let mut ids = None;
    let mut mask = None;
    let mut types = None;
    for t in inputs {
        let slot = match t.name.as_str() {
            INPUT_IDS => &mut ids,
            ATTENTION_MASK => &mut mask,
            TOKEN_TYPE_IDS => &mut types,
            other => return Err(unexpected(other)),
        };
        if t.datatype != "INT64" {
            return Err(ApiError::bad(format!("input {}: datatype must be INT64, got {}", t.name, t.datatype)));
        }
        let TensorData::Int64(data) = t.data else {
            return Err(ApiError::bad(format!("input {}: datatype INT64 but the data is not integers", t.name)));
        };
        if slot.replace((t.name.clone(), t.shape, data)).is_some() {
            return Err(ApiError::bad(format!("input {} is given twice", t.name)));
        }
    }
    let (_, shape, ids) = ids.ok_or_else(|| ApiError::bad("input_ids is missing"))?;
    let [batch, seq] = match shape.as_slice() {
        [b, s] => [*b, *s],
        _ => return Err(ApiError::bad(format!("input_ids must have shape [batch, sequence], got {shape:?}"))),
    };
    if batch <= 0 || seq <= 0 {
        return Err(ApiError::bad(format!("input_ids: empty input, shape {shape:?}")));
    }
    for (name, other_shape, _) in mask.iter().chain(types.iter()) {
        if *other_shape != shape {
            return Err(ApiError::bad(format!("input {name} has shape {other_shape:?} but input_ids has {shape:?}")));
        }
    }
    let (batch, seq) = (batch as usize, seq as usize);
    let rows = (0..batch)
        .map(|r| {
            let span = r * seq..(r + 1) * seq;
            Row {
                ids: ids[span.clone()].to_vec(),
                type_ids: types.as_ref().map_or_else(|| vec![0; seq], |(_, _, t)| t[span.clone()].to_vec()),
                mask: mask.as_ref().map(|(_, _, m)| m[span].to_vec()),
            }
        })
        .collect();
    Ok(Payload::Rows(rows))
}

#[derive(Debug, Clone, PartialEq)]
pub enum OutputData {
    Fp32(Vec<f32>),
    Bytes(Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct OutputTensor {
    pub name: &'static str,
    pub datatype: &'static str,
    pub shape: Vec<i64>,
    pub data: OutputData,
}

/// The outputs of a result, optionally only the `requested` ones.
pub fn outputs(output: Output, labels: Option<&[String]>, requested: &[String]) -> Result<Vec<OutputTensor>, ApiError> {
    let width = output.width();
    let rows = output.data().len().checked_div(width).unwrap_or(0);
    let shape = vec![rows as i64, width as i64];
    let mut all = match output {
        Output::Embeddings { data, .. } => {
            vec![OutputTensor { name: EMBEDDING, datatype: "FP32", shape, data: OutputData::Fp32(data) }]
        }
        Output::Probabilities { data, .. } => {
            let names = labels.unwrap_or(&[]);
            let label_of_row = data
                .chunks(width.max(1))
                .map(|p| names.get(crate::engine::head::argmax(p)).cloned().unwrap_or_default())
                .collect();
            vec![
                OutputTensor { name: PROBABILITIES, datatype: "FP32", shape, data: OutputData::Fp32(data) },
                OutputTensor {
                    name: LABEL,
                    datatype: "BYTES",
                    shape: vec![rows as i64],
                    data: OutputData::Bytes(label_of_row),
                },
            ]
        }
    };
    if requested.is_empty() {
        return Ok(all);
    }
    if let Some(unknown) = requested.iter().find(|r| !all.iter().any(|o| o.name == r.as_str())) {
        let known: Vec<&str> = all.iter().map(|o| o.name).collect();
        return Err(ApiError::bad(format!("unknown output {unknown:?}; this model has {}", known.join(", "))));
    }
    all.retain(|o| requested.iter().any(|r| r == o.name));
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(name: &str, shape: &[i64], items: &[&str]) -> InputTensor {
        InputTensor {
            name: name.into(),
            datatype: "BYTES".into(),
            shape: shape.to_vec(),
            data: TensorData::Bytes(items.iter().map(|s| s.as_bytes().to_vec()).collect()),
        }
    }

    fn ints(name: &str, shape: &[i64], data: &[i64]) -> InputTensor {
        InputTensor {
            name: name.into(),
            datatype: "INT64".into(),
            shape: shape.to_vec(),
            data: TensorData::Int64(data.to_vec()),
        }
    }

    #[test]
    fn texts_decode() {
        let p = payload(vec![bytes("text", &[2], &["a", "b"])]).unwrap();
        assert_eq!(p, Payload::Texts(vec!["a".into(), "b".into()]));
        let p = payload(vec![bytes("text", &[2, 1], &["a", "b"])]).unwrap();
        assert_eq!(p, Payload::Texts(vec!["a".into(), "b".into()]));
    }

    #[test]
    fn token_rows_decode() {
        let p = payload(vec![
            ints("input_ids", &[2, 3], &[101, 7, 102, 101, 102, 0]),
            ints("attention_mask", &[2, 3], &[1, 1, 1, 1, 1, 0]),
        ])
        .unwrap();
        let Payload::Rows(rows) = p else { panic!("rows expected") };
        assert_eq!(rows[1].ids, vec![101, 102, 0]);
        assert_eq!(rows[1].mask, Some(vec![1, 1, 0]));
        assert_eq!(rows[1].type_ids, vec![0, 0, 0]);
    }

    #[test]
    fn bad_inputs_name_the_problem() {
        let cases: Vec<(Vec<InputTensor>, &str)> = vec![
            (vec![], "no inputs"),
            (vec![bytes("text", &[0], &[])], "empty"),
            (vec![bytes("text", &[3], &["a"])], "holds 3 elements"),
            (vec![bytes("text", &[1, 2], &["a", "b"])], "shape [n]"),
            (vec![bytes("text", &[-1], &["a"])], "negative"),
            (vec![bytes("text", &[1], &["a"]), bytes("more", &[1], &["b"])], "exactly one"),
            (vec![ints("input_ids", &[3], &[1, 2, 3])], "[batch, sequence]"),
            (vec![ints("input_ids", &[0, 3], &[])], "empty"),
            (vec![ints("pixels", &[1, 1], &[1])], "unexpected inference input \"pixels\""),
            (vec![ints("attention_mask", &[1, 1], &[1])], "input_ids is missing"),
            (vec![ints("input_ids", &[1, 2], &[1, 2]), ints("attention_mask", &[2, 1], &[1, 1])], "has shape"),
            (
                vec![InputTensor {
                    name: "input_ids".into(),
                    datatype: "FP32".into(),
                    shape: vec![1, 1],
                    data: TensorData::Int64(vec![1]),
                }],
                "must be INT64",
            ),
        ];
        for (inputs, want) in cases {
            let err = payload(inputs).unwrap_err();
            assert!(matches!(err, ApiError::BadRequest(_)));
            assert!(err.to_string().contains(want), "{err} should mention {want}");
        }
        // V2 takes only the model's own input names, with their datatypes.
        let strict: Vec<(Vec<InputTensor>, &str)> = vec![
            (
                vec![bytes("nope", &[1], &["a"])],
                "unexpected inference input \"nope\": the model's inputs are text (BYTES)",
            ),
            (vec![bytes("text", &[1], &["a"]), bytes("more", &[1], &["b"])], "unexpected inference input \"more\""),
            (vec![ints("text", &[1, 1], &[1])], "input text: datatype must be BYTES, got INT64"),
            (vec![ints("input_ids", &[3], &[1, 2, 3])], "[batch, sequence]"),
        ];
        for (inputs, want) in strict {
            let err = v2_payload(inputs).unwrap_err();
            assert!(err.to_string().contains(want), "{err} should mention {want}");
        }
        assert!(payload(vec![bytes("sentences", &[1], &["a"])]).is_ok(), "TF Serving names texts as it likes");
        assert!(v2_payload(vec![bytes("text", &[1], &["a"])]).is_ok());
        let bad_utf8 = InputTensor {
            name: "text".into(),
            datatype: "BYTES".into(),
            shape: vec![1],
            data: TensorData::Bytes(vec![vec![0xff, 0xfe]]),
        };
        assert!(payload(vec![bad_utf8]).unwrap_err().to_string().contains("UTF-8"));
    }

    #[test]
    fn classifier_outputs_carry_labels() {
        let out = Output::Probabilities { width: 2, data: vec![0.9, 0.1, 0.2, 0.8] };
        let labels = vec!["NEGATIVE".to_string(), "POSITIVE".to_string()];
        let all = outputs(out.clone(), Some(&labels), &[]).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].shape, vec![2, 2]);
        assert_eq!(all[1].data, OutputData::Bytes(vec!["NEGATIVE".into(), "POSITIVE".into()]));
        let only = outputs(out.clone(), Some(&labels), &["label".into()]).unwrap();
        assert_eq!(only.len(), 1);
        assert!(outputs(out, Some(&labels), &["embedding".into()]).is_err());
    }
}
