//! The signatures a version serves, as TF Serving's GetModelMetadata reports
//! them (a `SignatureDefMap`) and as its REST `/metadata` prints them:
//! - `serving_default` (predict): `text` DT_STRING [-1] in, the task's
//!   outputs out (`embedding`, or `probabilities` and `label`);
//! - `tokenized` (predict): `input_ids`, `attention_mask`,
//!   `token_type_ids` DT_INT64 [-1, -1] in, the same outputs;
//! - `classification` (classify, classifiers only): serialized
//!   `tf.Example`s in, `classes` and `scores` out.
//!
//! Predict accepts texts and token ids under either predict signature; the
//! two exist so the metadata describes each input set exactly.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use crate::api::{TensorMeta, input_meta, output_meta};
use crate::engine::Version;
use crate::model::Task;
use crate::tfs_proto::tensorflow::serving::SignatureDefMap;
use crate::tfs_proto::tensorflow::tensor_info::Encoding;
use crate::tfs_proto::tensorflow::tensor_shape_proto::Dim;
use crate::tfs_proto::tensorflow::{DataType, SignatureDef, TensorInfo, TensorShapeProto};

use super::TfsError;

pub const DEFAULT: &str = "serving_default";
pub const TOKENIZED: &str = "tokenized";
pub const CLASSIFICATION: &str = "classification";
pub const PREDICT_METHOD: &str = "tensorflow/serving/predict";
pub const CLASSIFY_METHOD: &str = "tensorflow/serving/classify";

/// Which signature a Predict request runs; both predict signatures take
/// either input form.
pub fn check_predict(name: &str) -> Result<(), TfsError> {
    match name {
        "" | DEFAULT | TOKENIZED => Ok(()),
        CLASSIFICATION => Err(TfsError::FailedPrecondition(format!(
            "signature {CLASSIFICATION:?} is a classify signature (method {CLASSIFY_METHOD}): use Classify, or \
             Predict with {DEFAULT:?}"
        ))),
        other => Err(not_found(other)),
    }
}

/// Which signature a Classify request runs.
pub fn check_classify(name: &str) -> Result<(), TfsError> {
    match name {
        "" | DEFAULT | CLASSIFICATION => Ok(()),
        other => Err(not_found(other)),
    }
}

/// TF Serving's wording for a signature the model does not have.
fn not_found(name: &str) -> TfsError {
    TfsError::FailedPrecondition(format!(
        "Serving signature key \"{name}\" not found (signatures: {DEFAULT}, {TOKENIZED}, {CLASSIFICATION} for \
         classifiers)"
    ))
}

fn dtype(datatype: &str) -> DataType {
    match datatype {
        "BYTES" => DataType::DtString,
        "INT64" => DataType::DtInt64,
        "FP32" => DataType::DtFloat,
        _ => DataType::DtInvalid,
    }
}

fn info(name: &str, dtype: DataType, shape: &[i64]) -> TensorInfo {
    TensorInfo {
        dtype: dtype as i32,
        tensor_shape: Some(TensorShapeProto {
            dim: shape.iter().map(|&size| Dim { size, name: String::new() }).collect(),
            unknown_rank: false,
        }),
        // The "graph tensor" a SavedModel would name; here only a label.
        encoding: Some(Encoding::Name(format!("{name}:0"))),
    }
}

fn infos(list: impl IntoIterator<Item = TensorMeta>) -> HashMap<String, TensorInfo> {
    list.into_iter().map(|t| (t.name.clone(), info(&t.name, dtype(&t.datatype), &t.shape))).collect()
}

fn predict(inputs: impl IntoIterator<Item = TensorMeta>, v: &Version) -> SignatureDef {
    SignatureDef {
        inputs: infos(inputs),
        outputs: infos(output_meta(v)),
        method_name: PREDICT_METHOD.into(),
        defaults: HashMap::new(),
    }
}

/// Every signature `v` serves.
pub fn signatures(v: &Version) -> SignatureDefMap {
    let (texts, ids): (Vec<TensorMeta>, Vec<TensorMeta>) =
        input_meta().into_iter().partition(|t| t.datatype == "BYTES");
    let mut map = HashMap::from([(DEFAULT.to_string(), predict(texts, v)), (TOKENIZED.to_string(), predict(ids, v))]);
    if let Task::Classification { labels } = &v.info.task {
        let classes = [-1, labels.len() as i64];
        let classify = SignatureDef {
            inputs: HashMap::from([("inputs".to_string(), info("inputs", DataType::DtString, &[-1]))]),
            outputs: HashMap::from([
                ("classes".to_string(), info("classes", DataType::DtString, &classes)),
                ("scores".to_string(), info("scores", DataType::DtFloat, &classes)),
            ]),
            method_name: CLASSIFY_METHOD.into(),
            defaults: HashMap::new(),
        };
        map.insert(CLASSIFICATION.to_string(), classify);
    }
    SignatureDefMap { signature_def: map }
}

/// The JSON form TF Serving's REST metadata uses (protobuf's JSON mapping:
/// enum names, int64 as strings).
pub fn to_json(map: &SignatureDefMap) -> Value {
    let tensors = |m: &HashMap<String, TensorInfo>| -> Value {
        let sorted: std::collections::BTreeMap<&String, &TensorInfo> = m.iter().collect();
        let out: Map<String, Value> = sorted.into_iter().map(|(k, t)| (k.clone(), tensor_json(t))).collect();
        Value::Object(out)
    };
    let sorted: std::collections::BTreeMap<&String, &SignatureDef> = map.signature_def.iter().collect();
    let defs: Map<String, Value> = sorted
        .into_iter()
        .map(|(k, s)| {
            let sig = json!({
                "inputs": tensors(&s.inputs),
                "outputs": tensors(&s.outputs),
                "method_name": s.method_name,
                "defaults": {},
            });
            (k.clone(), sig)
        })
        .collect();
    json!({ "signature_def": defs })
}

fn tensor_json(t: &TensorInfo) -> Value {
    let dtype = DataType::try_from(t.dtype).map_or("DT_INVALID", |d| d.as_str_name());
    let dims: Vec<Value> = t
        .tensor_shape
        .iter()
        .flat_map(|s| &s.dim)
        .map(|d| json!({ "size": d.size.to_string(), "name": d.name }))
        .collect();
    let name = match &t.encoding {
        Some(Encoding::Name(n)) => n.as_str(),
        _ => "",
    };
    json!({
        "dtype": dtype,
        "tensor_shape": { "dim": dims, "unknown_rank": t.tensor_shape.as_ref().is_some_and(|s| s.unknown_rank) },
        "name": name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_names() {
        for ok in ["", DEFAULT, TOKENIZED] {
            assert!(check_predict(ok).is_ok());
        }
        assert!(matches!(check_predict(CLASSIFICATION), Err(TfsError::FailedPrecondition(_))));
        let err = check_predict("serving").unwrap_err();
        assert!(err.to_string().contains("Serving signature key \"serving\" not found"), "{err}");
        assert!(check_classify(CLASSIFICATION).is_ok());
        assert!(check_classify("x").is_err());
    }

    #[test]
    fn json_uses_protobuf_names() {
        let t = info("text", DataType::DtString, &[-1]);
        let v = tensor_json(&t);
        assert_eq!(v["dtype"], "DT_STRING");
        assert_eq!(v["tensor_shape"]["dim"][0]["size"], "-1");
        assert_eq!(v["name"], "text:0");
    }
}
