//! A SavedModel's SignatureDef as the shared signature check sees it.

use tensorflow::{DataType, MetaGraphDef, SignatureDef, TensorInfo};

use crate::model::LoadError;
use crate::model::signature::{Elem, TensorDesc};

/// The SignatureDef named `name`, or an error listing the ones there are.
pub fn signature<'a>(meta: &'a MetaGraphDef, name: &str) -> Result<&'a SignatureDef, LoadError> {
    meta.signatures().get(name).ok_or_else(|| {
        let mut have: Vec<&str> = meta.signatures().keys().map(String::as_str).collect();
        have.sort_unstable();
        LoadError::Signature(format!(
            "the SavedModel has no signature {name:?} (it has: {}); choose one with --signature_name",
            have.join(", ")
        ))
    })
}

/// Inputs and outputs by signature key, sorted so messages are stable.
pub fn describe(def: &SignatureDef) -> (Vec<TensorDesc>, Vec<TensorDesc>) {
    (descs(def.inputs()), descs(def.outputs()))
}

fn descs(map: &std::collections::HashMap<String, TensorInfo>) -> Vec<TensorDesc> {
    let mut out: Vec<TensorDesc> = map.iter().map(|(key, info)| desc(key, info)).collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn desc(key: &str, info: &TensorInfo) -> TensorDesc {
    let shape = info.shape();
    let rank = shape.dims().unwrap_or(0);
    TensorDesc {
        name: key.to_string(),
        elem: match info.dtype() {
            DataType::Int64 => Elem::Int64,
            DataType::Int32 => Elem::Int32,
            DataType::Float => Elem::Float32,
            other => Elem::Other(other.to_string()),
        },
        shape: (0..rank).map(|i| shape[i].unwrap_or(-1)).collect(),
    }
}
