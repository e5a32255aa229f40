//! TF Serving's REST bodies. Predict comes in row form
//! (`{"instances": [...]}`, answered `{"predictions": [...]}`) or columnar
//! form (`{"inputs": ...}`, answered `{"outputs": ...}`); either names its
//! inputs (objects keyed by input name) or has a single unnamed input.
//! Values are texts (strings, or `{"b64": "..."}`) or token ids (integers),
//! nested as the tensor's shape. The JSON becomes the protocol-neutral
//! tensors of [`crate::api::tensor`], so REST shares V2's input rules.
//! Classify takes `{"examples": [{"text": "..."}], "context": {...}}`.

use base64::Engine;
use serde_json::{Map, Value, json};

use crate::api::InferResult;
use crate::api::tensor::{self, InputTensor, OutputData, OutputTensor, Payload, TensorData};

use super::TfsError;
use super::classify::BytesFeatures;

/// A parsed predict request.
#[derive(Debug, PartialEq)]
pub struct PredictBody {
    pub signature_name: String,
    /// `inputs` (columnar) rather than `instances` (row).
    pub columnar: bool,
    pub payload: Payload,
}

fn object(body: &[u8]) -> Result<Map<String, Value>, TfsError> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(obj)) => Ok(obj),
        Ok(_) => Err(TfsError::bad("the request body must be a JSON object")),
        Err(e) => Err(TfsError::bad(format!("JSON Parse error: {e}"))),
    }
}

fn signature_name(obj: &mut Map<String, Value>) -> Result<String, TfsError> {
    match obj.remove("signature_name") {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(TfsError::bad("\"signature_name\" must be a string")),
    }
}

pub fn parse_predict(body: &[u8]) -> Result<PredictBody, TfsError> {
    let mut obj = object(body)?;
    let signature_name = signature_name(&mut obj)?;
    let (inputs, columnar) = match (obj.remove("instances"), obj.remove("inputs")) {
        (Some(_), Some(_)) => return Err(TfsError::bad("the request has both \"instances\" and \"inputs\"; send one")),
        (Some(i), None) => (row(i)?, false),
        (None, Some(i)) => (columnar(i)?, true),
        (None, None) => return Err(TfsError::bad("Missing 'inputs' or 'instances' key")),
    };
    Ok(PredictBody { signature_name, columnar, payload: tensor::payload(inputs)? })
}

/// Leaf values of one input, all of one kind.
#[derive(Debug, Clone, PartialEq)]
enum Leaves {
    Bytes(Vec<Vec<u8>>),
    Ints(Vec<i64>),
}

/// A nested JSON list as a dense tensor.
#[derive(Debug, Clone, PartialEq)]
struct Dense {
    shape: Vec<i64>,
    leaves: Leaves,
}

/// `{"b64": "..."}`: TF Serving's binary string.
fn b64(v: &Value) -> Option<&str> {
    match v {
        Value::Object(o) if o.len() == 1 => o.get("b64").and_then(Value::as_str),
        _ => None,
    }
}

fn is_named(v: &Value) -> bool {
    v.is_object() && b64(v).is_none()
}

fn leaf(name: &str, v: &Value, out: &mut Option<Leaves>) -> Result<(), TfsError> {
    let kind_error = || TfsError::bad(format!("input {name}: mixes texts and token ids"));
    match v {
        Value::String(s) => match out.get_or_insert_with(|| Leaves::Bytes(Vec::new())) {
            Leaves::Bytes(b) => b.push(s.as_bytes().to_vec()),
            Leaves::Ints(_) => return Err(kind_error()),
        },
        Value::Number(n) => {
            let i = n.as_i64().ok_or_else(|| {
                TfsError::bad(format!(
                    "input {name}: {n} is not an integer; send texts as strings and token ids as integers"
                ))
            })?;
            match out.get_or_insert_with(|| Leaves::Ints(Vec::new())) {
                Leaves::Ints(ints) => ints.push(i),
                Leaves::Bytes(_) => return Err(kind_error()),
            }
        }
        other => match b64(other) {
            Some(text) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .map_err(|e| TfsError::bad(format!("input {name}: invalid b64 value: {e}")))?;
                match out.get_or_insert_with(|| Leaves::Bytes(Vec::new())) {
                    Leaves::Bytes(b) => b.push(bytes),
                    Leaves::Ints(_) => return Err(kind_error()),
                }
            }
            None => {
                return Err(TfsError::bad(format!(
                    "input {name}: {other} is neither a text nor a token id (strings for texts, integers for ids)"
                )));
            }
        },
    }
    Ok(())
}

fn flatten(name: &str, v: &Value, shape: &[i64], out: &mut Option<Leaves>) -> Result<(), TfsError> {
    match (v, shape.split_first()) {
        (Value::Array(items), Some((&len, rest))) if items.len() as i64 == len => {
            items.iter().try_for_each(|item| flatten(name, item, rest, out))
        }
        (Value::Array(_), _) | (_, Some(_)) => Err(TfsError::bad(format!(
            "input {name} is ragged: every list at the same depth must have the same length (shape {shape:?} from \
             the first elements)"
        ))),
        (leaf_value, None) => leaf(name, leaf_value, out),
    }
}

fn dense(name: &str, v: &Value) -> Result<Dense, TfsError> {
    let mut shape = Vec::new();
    let mut cur = v;
    while let Value::Array(items) = cur {
        shape.push(items.len() as i64);
        match items.first() {
            Some(first) => cur = first,
            None => break,
        }
    }
    let mut leaves = None;
    flatten(name, v, &shape, &mut leaves)?;
    // An empty list has no leaves to tell the kind: treat it as texts, and
    // the shape check reports it empty.
    Ok(Dense { shape, leaves: leaves.unwrap_or(Leaves::Bytes(Vec::new())) })
}

/// Stacks per-instance values of one input along a new batch dimension.
fn stack(name: &str, parts: Vec<Dense>) -> Result<Dense, TfsError> {
    let mut iter = parts.into_iter();
    let Some(first) = iter.next() else { return Err(TfsError::bad("empty input: \"instances\" is an empty list")) };
    let mut shape = first.shape.clone();
    let mut leaves = first.leaves;
    let mut n = 1;
    for (i, part) in iter.enumerate() {
        if part.shape != first.shape {
            return Err(TfsError::bad(format!(
                "input {name}: instance {} has shape {:?} but instance 0 has {:?}; all instances must have the same \
                 shape",
                i + 1,
                part.shape,
                first.shape
            )));
        }
        match (&mut leaves, part.leaves) {
            (Leaves::Bytes(a), Leaves::Bytes(b)) => a.extend(b),
            (Leaves::Ints(a), Leaves::Ints(b)) => a.extend(b),
            _ => return Err(TfsError::bad(format!("input {name}: instances mix texts and token ids"))),
        }
        n += 1;
    }
    shape.insert(0, n);
    Ok(Dense { shape, leaves })
}

/// The name an unnamed input gets from its values.
fn unnamed(d: &Dense) -> &'static str {
    match d.leaves {
        Leaves::Bytes(_) => tensor::TEXT,
        Leaves::Ints(_) => crate::model::signature::INPUT_IDS,
    }
}

fn to_input(name: String, d: Dense) -> InputTensor {
    let (datatype, data) = match d.leaves {
        Leaves::Bytes(b) => ("BYTES", TensorData::Bytes(b)),
        Leaves::Ints(i) => ("INT64", TensorData::Int64(i)),
    };
    // A single text (columnar `"inputs": "hi"`) is a batch of one.
    let shape = if d.shape.is_empty() && datatype == "BYTES" { vec![1] } else { d.shape };
    InputTensor { name, datatype: datatype.into(), shape, data }
}

fn row(instances: Value) -> Result<Vec<InputTensor>, TfsError> {
    let Value::Array(items) = instances else {
        return Err(TfsError::bad("\"instances\" must be a list, one element per instance"));
    };
    if items.is_empty() {
        return Err(TfsError::bad("empty input: \"instances\" is an empty list"));
    }
    if !items.iter().any(is_named) {
        let parts = items.iter().map(|v| dense("instances", v)).collect::<Result<Vec<_>, _>>()?;
        let d = stack("instances", parts)?;
        return Ok(vec![to_input(unnamed(&d).to_string(), d)]);
    }
    let keys = |v: &Value| -> Vec<String> { v.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default() };
    let names = keys(&items[0]);
    for (i, item) in items.iter().enumerate() {
        if !is_named(item) || keys(item) != names {
            return Err(TfsError::bad(format!(
                "instance {i} does not name the same inputs as instance 0 ({}); every instance must be an object with \
                 the same keys",
                names.join(", ")
            )));
        }
    }
    names
        .into_iter()
        .map(|name| {
            let parts = items.iter().map(|item| dense(&name, &item[name.as_str()])).collect::<Result<Vec<_>, _>>()?;
            let d = stack(&name, parts)?;
            Ok(to_input(name, d))
        })
        .collect()
}

fn columnar(inputs: Value) -> Result<Vec<InputTensor>, TfsError> {
    match inputs {
        Value::Object(obj) if b64(&Value::Object(obj.clone())).is_none() => {
            if obj.is_empty() {
                return Err(TfsError::bad("empty input: \"inputs\" names no input"));
            }
            obj.into_iter().map(|(name, v)| Ok(to_input(name.clone(), dense(&name, &v)?))).collect()
        }
        single => {
            let d = dense("inputs", &single)?;
            Ok(vec![to_input(unnamed(&d).to_string(), d)])
        }
    }
}

fn leaf_json(data: &OutputData, i: usize) -> Value {
    match data {
        OutputData::Fp32(v) => v.get(i).map_or(Value::Null, |x| json!(x)),
        OutputData::Bytes(v) => v.get(i).map_or(Value::Null, |x| json!(x)),
    }
}

/// The sub-tensor of `shape` starting at element `offset`, as nested lists.
fn nest(data: &OutputData, shape: &[i64], offset: usize) -> Value {
    match shape.split_first() {
        None => leaf_json(data, offset),
        Some((&n, rest)) => {
            let inner: usize = rest.iter().map(|&d| d.max(0) as usize).product();
            Value::Array((0..n.max(0) as usize).map(|i| nest(data, rest, offset + i * inner)).collect())
        }
    }
}

/// Row form: one value (single output) or object (several) per instance.
fn predictions(outputs: &[OutputTensor]) -> Value {
    let per_output: Vec<Vec<Value>> = outputs
        .iter()
        .map(|t| match nest(&t.data, &t.shape, 0) {
            Value::Array(rows) => rows,
            scalar => vec![scalar],
        })
        .collect();
    let n = per_output.first().map_or(0, Vec::len);
    let rows = (0..n).map(|i| match outputs {
        [_] => per_output[0][i].clone(),
        _ => Value::Object(
            outputs.iter().zip(&per_output).map(|(t, rows)| (t.name.to_string(), rows[i].clone())).collect(),
        ),
    });
    Value::Array(rows.collect())
}

/// Columnar form: the output itself (single output) or an object of them.
fn columns(outputs: &[OutputTensor]) -> Value {
    match outputs {
        [only] => nest(&only.data, &only.shape, 0),
        _ => Value::Object(outputs.iter().map(|t| (t.name.to_string(), nest(&t.data, &t.shape, 0))).collect()),
    }
}

pub fn predict_response(result: InferResult, columnar: bool) -> Result<Value, TfsError> {
    let version = result.version.to_string();
    let outputs = tensor::outputs(result.output, result.labels.as_deref(), &[])?;
    let (key, value) = if columnar { ("outputs", columns(&outputs)) } else { ("predictions", predictions(&outputs)) };
    // "model_version" is Berth's addition (TF Serving answers only the key).
    Ok(json!({ key: value, "model_version": version }))
}

/// A classify request: its signature and each example's bytes features.
#[derive(Debug, PartialEq)]
pub struct ClassifyBody {
    pub signature_name: String,
    pub examples: Vec<BytesFeatures>,
}

/// One example's features: strings and `{"b64"}` are bytes features,
/// numbers numeric ones (kept only so the text feature can be found).
fn features(i: usize, v: &Value) -> Result<BytesFeatures, TfsError> {
    let Value::Object(obj) = v else {
        return Err(TfsError::bad(format!("example {i} must be an object of features")));
    };
    obj.iter()
        .map(|(name, value)| {
            let d = dense(name, value)?;
            let bytes = match d.leaves {
                Leaves::Bytes(b) => Some(b),
                Leaves::Ints(_) => None,
            };
            Ok((name.clone(), bytes))
        })
        .collect()
}

pub fn parse_classify(body: &[u8]) -> Result<ClassifyBody, TfsError> {
    let mut obj = object(body)?;
    let signature_name = signature_name(&mut obj)?;
    let context = match obj.remove("context") {
        None => BytesFeatures::new(),
        Some(c) => features(0, &c).map_err(|e| TfsError::bad(format!("context: {e}")))?,
    };
    let Some(Value::Array(list)) = obj.remove("examples") else {
        return Err(TfsError::bad("Missing 'examples' key: send {\"examples\": [{\"text\": \"...\"}]}"));
    };
    let examples = list
        .iter()
        .enumerate()
        .map(|(i, e)| Ok(super::classify::merge(features(i, e)?, &context)))
        .collect::<Result<Vec<_>, TfsError>>()?;
    Ok(ClassifyBody { signature_name, examples })
}

/// `{"results": [[["label", score], ...], ...]}`.
pub fn classify_response(classes: Vec<Vec<(String, f32)>>, version: &str) -> Value {
    let results: Vec<Value> =
        classes.into_iter().map(|row| Value::Array(row.into_iter().map(|(l, s)| json!([l, s])).collect())).collect();
    json!({ "results": results, "model_version": version })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Row;

    fn texts(list: &[&str]) -> Payload {
        Payload::Texts(list.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn row_and_columnar_texts() {
        let p = |b: &str| parse_predict(b.as_bytes()).unwrap();
        assert_eq!(p(r#"{"instances": ["a", "b"]}"#).payload, texts(&["a", "b"]));
        assert_eq!(p(r#"{"instances": [{"text": "a"}, {"text": "b"}]}"#).payload, texts(&["a", "b"]));
        assert_eq!(p(r#"{"instances": [{"b64": "aGk="}]}"#).payload, texts(&["hi"]));
        assert_eq!(p(r#"{"instances": [{"sentence": {"b64": "aGk="}}]}"#).payload, texts(&["hi"]));
        let c = p(r#"{"signature_name": "serving_default", "inputs": {"text": ["a", "b"]}}"#);
        assert!(c.columnar);
        assert_eq!(c.signature_name, "serving_default");
        assert_eq!(c.payload, texts(&["a", "b"]));
        assert_eq!(p(r#"{"inputs": ["a"]}"#).payload, texts(&["a"]));
        assert_eq!(p(r#"{"inputs": "a"}"#).payload, texts(&["a"]));
    }

    #[test]
    fn pre_tokenized_rows() {
        let row = |ids: &[i64], mask: Option<&[i64]>| Row {
            ids: ids.to_vec(),
            type_ids: vec![0; ids.len()],
            mask: mask.map(<[i64]>::to_vec),
        };
        let got = parse_predict(
            br#"{"instances": [{"input_ids": [101, 7, 102], "attention_mask": [1, 1, 1]},
                               {"input_ids": [101, 102, 0], "attention_mask": [1, 1, 0]}]}"#,
        )
        .unwrap();
        assert_eq!(
            got.payload,
            Payload::Rows(vec![row(&[101, 7, 102], Some(&[1, 1, 1])), row(&[101, 102, 0], Some(&[1, 1, 0]))])
        );
        let got = parse_predict(br#"{"inputs": {"input_ids": [[101, 102]]}}"#).unwrap();
        assert_eq!(got.payload, Payload::Rows(vec![row(&[101, 102], None)]));
        let got = parse_predict(br#"{"instances": [[101, 102]]}"#).unwrap();
        assert_eq!(got.payload, Payload::Rows(vec![row(&[101, 102], None)]));
    }

    #[test]
    fn bad_bodies_name_the_problem() {
        for (body, want) in [
            ("{nope", "JSON Parse error"),
            ("[1]", "JSON object"),
            (r#"{"foo": 1}"#, "Missing 'inputs' or 'instances'"),
            (r#"{"instances": [], "inputs": []}"#, "both"),
            (r#"{"instances": []}"#, "empty"),
            (r#"{"instances": "a"}"#, "must be a list"),
            (r#"{"instances": [1.5]}"#, "not an integer"),
            (r#"{"instances": [true]}"#, "neither a text nor a token id"),
            (r#"{"instances": ["a", 1]}"#, "mix"),
            (r#"{"instances": [{"text": "a"}, {"other": "b"}]}"#, "same keys"),
            (r#"{"instances": [{"input_ids": [1, 2]}, {"input_ids": [1]}]}"#, "same shape"),
            (r#"{"inputs": {"input_ids": [[1, 2], [1]]}}"#, "ragged"),
            (r#"{"inputs": {}}"#, "names no input"),
            (r#"{"instances": [{"b64": "!!"}]}"#, "b64"),
            (r#"{"signature_name": 3, "instances": ["a"]}"#, "signature_name"),
        ] {
            let err = parse_predict(body.as_bytes()).unwrap_err();
            assert!(matches!(err, TfsError::InvalidArgument(_)), "{body}: {err:?}");
            assert!(err.to_string().contains(want), "{body}: {err} should mention {want}");
        }
    }

    #[test]
    fn output_forms() {
        let emb = OutputTensor {
            name: "embedding",
            datatype: "FP32",
            shape: vec![2, 2],
            data: OutputData::Fp32(vec![1.0, 2.0, 3.0, 4.0]),
        };
        let label = OutputTensor {
            name: "label",
            datatype: "BYTES",
            shape: vec![2],
            data: OutputData::Bytes(vec!["a".into(), "b".into()]),
        };
        assert_eq!(predictions(std::slice::from_ref(&emb)), json!([[1.0, 2.0], [3.0, 4.0]]));
        assert_eq!(columns(std::slice::from_ref(&emb)), json!([[1.0, 2.0], [3.0, 4.0]]));
        let both = [emb, label];
        assert_eq!(
            predictions(&both),
            json!([{"embedding": [1.0, 2.0], "label": "a"}, {"embedding": [3.0, 4.0], "label": "b"}])
        );
        assert_eq!(columns(&both), json!({"embedding": [[1.0, 2.0], [3.0, 4.0]], "label": ["a", "b"]}));
    }

    #[test]
    fn classify_bodies() {
        let got = parse_classify(
            br#"{"context": {"lang": "en"}, "examples": [{"text": "a"}, {"text": {"b64": "Yg=="}, "n": 3}]}"#,
        )
        .unwrap();
        assert_eq!(super::super::classify::texts(got.examples).unwrap(), ["a", "b"]);
        assert!(parse_classify(br#"{"instances": []}"#).unwrap_err().to_string().contains("Missing 'examples'"));
        assert!(parse_classify(br#"{"examples": [1]}"#).unwrap_err().to_string().contains("object of features"));
        assert_eq!(
            classify_response(vec![vec![("A".into(), 0.25)]], "1"),
            json!({"results": [[["A", 0.25]]], "model_version": "1"})
        );
    }
}
