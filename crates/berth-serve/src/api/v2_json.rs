//! The V2 REST inference body: JSON, optionally followed by binary tensor
//! data (the binary tensor data extension that tritonclient uses by default:
//! an `Inference-Header-Content-Length` header splits JSON from raw bytes,
//! and each tensor's `binary_data_size` parameter says how many bytes it has).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::ApiError;
use super::tensor::{InputTensor, OutputData, OutputTensor, TensorData};

#[derive(Debug, Deserialize)]
struct RequestJson {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    parameters: Map<String, Value>,
    inputs: Vec<InputJson>,
    #[serde(default)]
    outputs: Vec<RequestedJson>,
}

#[derive(Debug, Deserialize)]
struct InputJson {
    name: String,
    datatype: String,
    shape: Vec<i64>,
    #[serde(default)]
    parameters: Map<String, Value>,
    #[serde(default)]
    data: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct RequestedJson {
    name: String,
    #[serde(default)]
    parameters: Map<String, Value>,
}

/// A decoded request body.
#[derive(Debug)]
pub struct ParsedRequest {
    pub id: Option<String>,
    pub inputs: Vec<InputTensor>,
    /// Requested outputs (empty: all), with whether each goes back as binary.
    pub outputs: Vec<(String, bool)>,
    /// `binary_data_output`: outputs not requested by name go back as binary.
    pub binary_by_default: bool,
}

impl ParsedRequest {
    pub fn requested(&self) -> Vec<String> {
        self.outputs.iter().map(|(n, _)| n.clone()).collect()
    }

    fn binary(&self, name: &str) -> bool {
        self.outputs.iter().find(|(n, _)| n == name).map_or(self.binary_by_default, |(_, b)| *b)
    }
}

pub fn parse(body: &[u8], header_len: Option<usize>) -> Result<ParsedRequest, ApiError> {
    let (json, mut binary) = match header_len {
        Some(n) if n <= body.len() => body.split_at(n),
        Some(n) => {
            return Err(ApiError::bad(format!(
                "Inference-Header-Content-Length is {n} but the body has {} bytes",
                body.len()
            )));
        }
        None => (body, &[][..]),
    };
    let req: RequestJson =
        serde_json::from_slice(json).map_err(|e| ApiError::bad(format!("malformed request JSON: {e}")))?;
    let mut inputs = Vec::with_capacity(req.inputs.len());
    for input in req.inputs {
        let data = match (input.parameters.get("binary_data_size"), input.data) {
            (Some(size), None) => {
                let size = size.as_u64().and_then(|s| usize::try_from(s).ok()).ok_or_else(|| {
                    ApiError::bad(format!("input {}: binary_data_size must be a non-negative integer", input.name))
                })?;
                if size > binary.len() {
                    return Err(ApiError::bad(format!(
                        "input {}: binary_data_size {size} is more than the {} binary bytes left",
                        input.name,
                        binary.len()
                    )));
                }
                let (mine, rest) = binary.split_at(size);
                binary = rest;
                decode_binary(&input.name, &input.datatype, mine)?
            }
            (None, Some(value)) => decode_json(&input.name, &input.datatype, value)?,
            (Some(_), Some(_)) => {
                return Err(ApiError::bad(format!("input {} has both data and binary_data_size", input.name)));
            }
            (None, None) => return Err(ApiError::bad(format!("input {} has no data", input.name))),
        };
        inputs.push(InputTensor { name: input.name, datatype: input.datatype, shape: input.shape, data });
    }
    if !binary.is_empty() {
        return Err(ApiError::bad(format!("{} bytes of binary data belong to no input", binary.len())));
    }
    let binary_by_default = req.parameters.get("binary_data_output").and_then(Value::as_bool).unwrap_or(false);
    let outputs = req
        .outputs
        .into_iter()
        .map(|o| {
            let binary = o.parameters.get("binary_data").and_then(Value::as_bool).unwrap_or(false);
            (o.name, binary)
        })
        .collect();
    Ok(ParsedRequest { id: req.id, inputs, outputs, binary_by_default })
}

fn decode_json(name: &str, datatype: &str, value: Value) -> Result<TensorData, ApiError> {
    let mut flat = Vec::new();
    flatten(value, &mut flat);
    match datatype {
        "BYTES" => flat
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.into_bytes()),
                other => {
                    Err(ApiError::bad(format!("input {name}: datatype BYTES needs strings, got {}", kind(&other))))
                }
            })
            .collect::<Result<_, _>>()
            .map(TensorData::Bytes),
        "INT64" | "INT32" => flat
            .into_iter()
            .map(|v| {
                v.as_i64().ok_or_else(|| {
                    ApiError::bad(format!("input {name}: datatype {datatype} needs integers, got {}", kind(&v)))
                })
            })
            .collect::<Result<_, _>>()
            .map(TensorData::Int64),
        other => Err(unsupported(name, other)),
    }
}

/// Nested arrays in row-major order -> one flat list.
fn flatten(value: Value, out: &mut Vec<Value>) {
    match value {
        Value::Array(items) => items.into_iter().for_each(|v| flatten(v, out)),
        other => out.push(other),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn unsupported(name: &str, datatype: &str) -> ApiError {
    ApiError::bad(format!("input {name}: datatype {datatype} is not accepted (BYTES for texts, INT64 for token ids)"))
}

/// Raw tensor bytes: BYTES elements are each a 4-byte little-endian length
/// and that many bytes; INT64 is 8 little-endian bytes per element.
pub fn decode_binary(name: &str, datatype: &str, raw: &[u8]) -> Result<TensorData, ApiError> {
    match datatype {
        "BYTES" => {
            let mut items = Vec::new();
            let mut rest = raw;
            while !rest.is_empty() {
                let Some((len, tail)) = rest.split_first_chunk::<4>() else {
                    return Err(ApiError::bad(format!("input {name}: truncated BYTES length prefix")));
                };
                let len = u32::from_le_bytes(*len) as usize;
                if len > tail.len() {
                    return Err(ApiError::bad(format!(
                        "input {name}: BYTES element of {len} bytes but only {} left",
                        tail.len()
                    )));
                }
                let (item, tail) = tail.split_at(len);
                items.push(item.to_vec());
                rest = tail;
            }
            Ok(TensorData::Bytes(items))
        }
        "INT64" => {
            if !raw.len().is_multiple_of(8) {
                return Err(ApiError::bad(format!(
                    "input {name}: {} bytes is not a whole number of INT64s",
                    raw.len()
                )));
            }
            Ok(TensorData::Int64(
                raw.chunks_exact(8)
                    .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                    .collect(),
            ))
        }
        other => Err(unsupported(name, other)),
    }
}

/// Raw bytes of an output tensor (the layout `decode_binary` reads).
pub fn encode_binary(data: &OutputData) -> Vec<u8> {
    match data {
        OutputData::Fp32(values) => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        OutputData::Bytes(items) => {
            let mut out = Vec::with_capacity(items.iter().map(|s| s.len() + 4).sum());
            for s in items {
                out.extend_from_slice(&(s.len() as u32).to_le_bytes());
                out.extend_from_slice(s.as_bytes());
            }
            out
        }
    }
}

#[derive(Serialize)]
struct ResponseJson<'a> {
    model_name: &'a str,
    model_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    parameters: Map<String, Value>,
    outputs: Vec<OutputJson<'a>>,
}

#[derive(Serialize)]
struct OutputJson<'a> {
    name: &'a str,
    datatype: &'a str,
    shape: &'a [i64],
    #[serde(skip_serializing_if = "Map::is_empty")]
    parameters: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<DataJson<'a>>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum DataJson<'a> {
    Fp32(&'a [f32]),
    Bytes(&'a [String]),
}

/// The response body, and the JSON part's length when binary data follows.
pub fn render(
    req: &ParsedRequest,
    model: &str,
    version: &str,
    parameters: Map<String, Value>,
    outputs: &[OutputTensor],
) -> Result<(Vec<u8>, Option<usize>), ApiError> {
    let mut binary = Vec::new();
    let mut outs = Vec::with_capacity(outputs.len());
    for o in outputs {
        let mut params = Map::new();
        let data = if req.binary(o.name) {
            let raw = encode_binary(&o.data);
            params.insert("binary_data_size".into(), Value::from(raw.len()));
            binary.extend_from_slice(&raw);
            None
        } else {
            Some(match &o.data {
                OutputData::Fp32(v) => DataJson::Fp32(v),
                OutputData::Bytes(v) => DataJson::Bytes(v),
            })
        };
        outs.push(OutputJson { name: o.name, datatype: o.datatype, shape: &o.shape, parameters: params, data });
    }
    let body = ResponseJson {
        model_name: model,
        model_version: version.to_string(),
        id: req.id.as_deref(),
        parameters,
        outputs: outs,
    };
    let mut bytes = serde_json::to_vec(&body).map_err(|e| ApiError::Internal(format!("encoding the response: {e}")))?;
    if binary.is_empty() {
        return Ok((bytes, None));
    }
    let header = bytes.len();
    bytes.extend_from_slice(&binary);
    Ok((bytes, Some(header)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_request_with_nested_data() {
        let body = br#"{"id": "r1", "inputs": [{"name": "input_ids", "datatype": "INT64", "shape": [1, 3], "data": [[101, 7, 102]]}]}"#;
        let req = parse(body, None).unwrap();
        assert_eq!(req.id.as_deref(), Some("r1"));
        assert_eq!(req.inputs[0].data, TensorData::Int64(vec![101, 7, 102]));
        assert!(req.outputs.is_empty() && !req.binary_by_default);
    }

    #[test]
    fn binary_request_round_trip() {
        let header = br#"{"inputs": [{"name": "text", "datatype": "BYTES", "shape": [2], "parameters": {"binary_data_size": 11}}], "parameters": {"binary_data_output": true}}"#;
        let raw = encode_binary(&OutputData::Bytes(vec!["hi".into(), "you".into()]));
        assert_eq!(raw.len(), 13);
        // 11 bytes cannot hold both strings: rejected with a message.
        let mut body = header.to_vec();
        body.extend_from_slice(&raw);
        assert!(parse(&body, Some(header.len())).is_err());
        let header = header.as_slice().to_vec();
        let header = String::from_utf8(header).unwrap().replace("11", "13");
        let mut body = header.as_bytes().to_vec();
        body.extend_from_slice(&raw);
        let req = parse(&body, Some(header.len())).unwrap();
        assert_eq!(req.inputs[0].data, TensorData::Bytes(vec![b"hi".to_vec(), b"you".to_vec()]));
        assert!(req.binary_by_default);
    }

    #[test]
    fn malformed_bodies_are_bad_requests() {
        for (body, want) in [
            (&b"{nope"[..], "malformed"),
            (br#"{"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1]}]}"#, "no data"),
            (br#"{"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": [1]}]}"#, "needs strings"),
            (
                br#"{"inputs": [{"name": "input_ids", "datatype": "INT64", "shape": [1,1], "data": ["x"]}]}"#,
                "needs integers",
            ),
            (br#"{"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [1.0]}]}"#, "not accepted"),
            (br#"{"outputs": []}"#, "inputs"),
        ] {
            let err = parse(body, None).unwrap_err();
            assert!(err.to_string().contains(want), "{err} should mention {want}");
        }
        assert!(parse(b"{}", Some(10)).is_err());
    }

    #[test]
    fn response_json_and_binary() {
        let req =
            parse(br#"{"inputs": [], "outputs": [{"name": "embedding", "parameters": {"binary_data": true}}]}"#, None)
                .unwrap();
        let outs = vec![OutputTensor {
            name: "embedding",
            datatype: "FP32",
            shape: vec![1, 2],
            data: OutputData::Fp32(vec![1.0, 2.0]),
        }];
        let (body, header) = render(&req, "m", "3", Map::new(), &outs).unwrap();
        let header = header.unwrap();
        assert_eq!(body.len() - header, 8);
        let json: Value = serde_json::from_slice(&body[..header]).unwrap();
        assert_eq!(json["model_version"], "3");
        assert_eq!(json["outputs"][0]["parameters"]["binary_data_size"], 8);

        let req = parse(br#"{"inputs": []}"#, None).unwrap();
        let (body, header) = render(&req, "m", "3", Map::new(), &outs).unwrap();
        assert!(header.is_none());
        let json: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["outputs"][0]["data"], serde_json::json!([1.0, 2.0]));
    }
}
