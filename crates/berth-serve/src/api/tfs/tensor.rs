//! TF Serving's `TensorProto` <-> the protocol-neutral tensors of
//! [`crate::api::tensor`], so Predict shares V2's input rules.
//!
//! Values arrive either in the typed repeated fields (`string_val`,
//! `int64_val`, `int_val`) or, for numeric tensors built from numpy arrays
//! by `tf.make_tensor_proto`, as little-endian bytes in `tensor_content`.

use std::collections::HashMap;

use crate::api::tensor::{InputTensor, OutputData, OutputTensor, TensorData};
use crate::tfs_proto::tensorflow::tensor_shape_proto::Dim;
use crate::tfs_proto::tensorflow::{DataType, TensorProto, TensorShapeProto};

use super::TfsError;

fn dtype_name(dtype: i32) -> String {
    DataType::try_from(dtype).map_or_else(|_| format!("dtype {dtype}"), |d| d.as_str_name().to_string())
}

/// Little-endian `N`-byte values from `tensor_content`.
fn from_content<const N: usize>(name: &str, content: &[u8], conv: fn([u8; N]) -> i64) -> Result<Vec<i64>, TfsError> {
    if !content.len().is_multiple_of(N) {
        return Err(TfsError::bad(format!(
            "input {name}: tensor_content has {} bytes, not a multiple of {N}",
            content.len()
        )));
    }
    Ok(content.chunks_exact(N).map(|c| conv(c.try_into().unwrap_or([0; N]))).collect())
}

/// A tensor whose shape holds more elements than values were given, with
/// one value, means that value everywhere (TF's splat encoding).
fn splat<T: Clone>(mut values: Vec<T>, count: usize) -> Vec<T> {
    if values.len() == 1 && count > 1 {
        values.resize(count, values[0].clone());
    }
    values
}

fn shape_of(name: &str, t: &TensorProto) -> Result<Vec<i64>, TfsError> {
    match &t.tensor_shape {
        Some(s) if s.unknown_rank => Err(TfsError::bad(format!("input {name}: the shape has unknown rank"))),
        Some(s) => Ok(s.dim.iter().map(|d| d.size).collect()),
        None => Ok(Vec::new()),
    }
}

/// One request input. A scalar text becomes a batch of one.
pub fn input(name: String, t: TensorProto) -> Result<InputTensor, TfsError> {
    let mut shape = shape_of(&name, &t)?;
    let count = crate::api::tensor::element_count(&name, &shape)?;
    let (datatype, data) = match DataType::try_from(t.dtype) {
        Ok(DataType::DtString) => ("BYTES", TensorData::Bytes(splat(t.string_val, count))),
        Ok(DataType::DtInt64) => {
            let values = if t.tensor_content.is_empty() {
                t.int64_val
            } else {
                from_content::<8>(&name, &t.tensor_content, i64::from_le_bytes)?
            };
            ("INT64", TensorData::Int64(splat(values, count)))
        }
        Ok(DataType::DtInt32) => {
            let values = if t.tensor_content.is_empty() {
                t.int_val.into_iter().map(i64::from).collect()
            } else {
                from_content::<4>(&name, &t.tensor_content, |b| i64::from(i32::from_le_bytes(b)))?
            };
            ("INT64", TensorData::Int64(splat(values, count)))
        }
        _ => {
            return Err(TfsError::bad(format!(
                "input {name}: {} is not accepted; send texts as DT_STRING or token ids (input_ids, attention_mask, \
                 token_type_ids) as DT_INT64 or DT_INT32",
                dtype_name(t.dtype)
            )));
        }
    };
    if shape.is_empty() && datatype == "BYTES" {
        shape = vec![1];
    }
    Ok(InputTensor { name, datatype: datatype.into(), shape, data })
}

/// Every input of a Predict request, in a stable order (map order is
/// random, and error messages should not be).
pub fn inputs(map: HashMap<String, TensorProto>) -> Result<Vec<InputTensor>, TfsError> {
    let mut list: Vec<(String, TensorProto)> = map.into_iter().collect();
    list.sort_by(|a, b| a.0.cmp(&b.0));
    list.into_iter().map(|(name, t)| input(name, t)).collect()
}

fn shape_proto(shape: &[i64]) -> TensorShapeProto {
    TensorShapeProto { dim: shape.iter().map(|&size| Dim { size, name: String::new() }).collect(), unknown_rank: false }
}

/// An output as a TensorProto: DT_FLOAT in `float_val`, DT_STRING in
/// `string_val` (what every client, `tf.make_ndarray` included, reads).
pub fn output(t: OutputTensor) -> (String, TensorProto) {
    let mut proto = TensorProto { tensor_shape: Some(shape_proto(&t.shape)), ..Default::default() };
    match t.data {
        OutputData::Fp32(values) => {
            proto.dtype = DataType::DtFloat as i32;
            proto.float_val = values;
        }
        OutputData::Bytes(values) => {
            proto.dtype = DataType::DtString as i32;
            proto.string_val = values.into_iter().map(String::into_bytes).collect();
        }
    }
    (t.name.to_string(), proto)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proto(dtype: DataType, shape: &[i64]) -> TensorProto {
        TensorProto { dtype: dtype as i32, tensor_shape: Some(shape_proto(shape)), ..Default::default() }
    }

    #[test]
    fn strings_and_scalars() {
        let mut t = proto(DataType::DtString, &[2]);
        t.string_val = vec![b"a".to_vec(), b"b".to_vec()];
        let i = input("inputs".into(), t).unwrap();
        assert_eq!((i.datatype.as_str(), i.shape.as_slice()), ("BYTES", &[2][..]));
        let mut scalar = proto(DataType::DtString, &[]);
        scalar.string_val = vec![b"a".to_vec()];
        assert_eq!(input("text".into(), scalar).unwrap().shape, vec![1]);
    }

    #[test]
    fn ints_from_content_and_fields() {
        let mut t = proto(DataType::DtInt64, &[1, 2]);
        t.tensor_content = [101i64, 102].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(input("input_ids".into(), t).unwrap().data, TensorData::Int64(vec![101, 102]));
        let mut t = proto(DataType::DtInt32, &[1, 2]);
        t.tensor_content = [7i32, -1].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(input("input_ids".into(), t).unwrap().data, TensorData::Int64(vec![7, -1]));
        let mut t = proto(DataType::DtInt32, &[1, 3]);
        t.int_val = vec![1];
        assert_eq!(input("attention_mask".into(), t).unwrap().data, TensorData::Int64(vec![1, 1, 1]));
        let mut t = proto(DataType::DtInt64, &[1, 1]);
        t.tensor_content = vec![0; 7];
        assert!(input("input_ids".into(), t).unwrap_err().to_string().contains("multiple of 8"));
    }

    #[test]
    fn other_dtypes_are_refused_by_name() {
        let err = input("x".into(), proto(DataType::DtFloat, &[1])).unwrap_err();
        assert!(matches!(err, TfsError::InvalidArgument(_)));
        assert!(err.to_string().contains("DT_FLOAT is not accepted"), "{err}");
    }
}
