//! TF Serving's REST predict API, so clients written for tensorflow_model_server
//! work unchanged: `POST /v1/models/{m}[/versions/{v}]:predict` with
//! `{"instances": ["text", ...]}` (row format; `{"text": "..."}` objects too)
//! or `{"inputs": [...]}` (columnar). Embeddings come back as
//! `{"predictions": [[...], ...]}`, classifiers as
//! `{"predictions": [{"probabilities": [...], "label": "..."}, ...]}`.

use serde_json::{Value, json};

use super::tensor::Payload;
use super::{ApiError, InferResult};
use crate::engine::Output;

/// `m:predict` or `m/versions/v:predict` -> (model, version).
pub fn parse_path(rest: &str) -> Result<(String, Option<String>), ApiError> {
    let target = rest
        .strip_suffix(":predict")
        .ok_or_else(|| ApiError::NoRoute(format!("no endpoint /v1/models/{rest} (expected {{model}}:predict)")))?;
    match target.split_once("/versions/") {
        Some((model, version)) if !model.is_empty() && !version.is_empty() && !version.contains('/') => {
            Ok((model.to_string(), Some(version.to_string())))
        }
        None if !target.is_empty() && !target.contains('/') => Ok((target.to_string(), None)),
        _ => Err(ApiError::NoRoute(format!("no endpoint /v1/models/{rest}"))),
    }
}

/// The texts of a predict request.
pub fn payload(body: &[u8]) -> Result<Payload, ApiError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| ApiError::bad(format!("malformed request JSON: {e}")))?;
    let list = value
        .get("instances")
        .or_else(|| value.get("inputs"))
        .ok_or_else(|| ApiError::bad("the request has neither \"instances\" nor \"inputs\""))?;
    let items = match list {
        Value::Array(items) => items.as_slice(),
        Value::Object(obj) => match obj.get("text") {
            Some(Value::Array(items)) => items.as_slice(),
            _ => return Err(ApiError::bad("columnar \"inputs\" must be {\"text\": [...]}")),
        },
        single @ Value::String(_) => std::slice::from_ref(single),
        _ => return Err(ApiError::bad("\"instances\" must be a list of texts")),
    };
    if items.is_empty() {
        return Err(ApiError::bad("empty input: no instances"));
    }
    let texts = items
        .iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::String(s) => Ok(s.clone()),
            Value::Object(obj) => match obj.get("text") {
                Some(Value::String(s)) => Ok(s.clone()),
                _ => Err(ApiError::bad(format!("instance {i} has no \"text\" string"))),
            },
            other => Err(ApiError::bad(format!("instance {i} is not a text: {other}"))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Payload::Texts(texts))
}

pub fn response(result: &InferResult) -> Value {
    let width = result.output.width().max(1);
    let predictions: Vec<Value> = match &result.output {
        Output::Embeddings { data, .. } => data.chunks(width).map(|row| json!(row)).collect(),
        Output::Probabilities { data, .. } => data
            .chunks(width)
            .map(|p| {
                let label = result
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(crate::engine::head::argmax(p)))
                    .cloned()
                    .unwrap_or_default();
                json!({"probabilities": p, "label": label})
            })
            .collect(),
    };
    json!({ "predictions": predictions, "model_version": result.version.as_str() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(parse_path("bert:predict").unwrap(), ("bert".into(), None));
        assert_eq!(parse_path("bert/versions/3:predict").unwrap(), ("bert".into(), Some("3".into())));
        for bad in ["bert", ":predict", "bert/versions/:predict", "a/b:predict", "bert:classify"] {
            assert!(parse_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn instances_and_inputs() {
        let want = Payload::Texts(vec!["a".into(), "b".into()]);
        assert_eq!(payload(br#"{"instances": ["a", "b"]}"#).unwrap(), want);
        assert_eq!(payload(br#"{"instances": [{"text": "a"}, {"text": "b"}]}"#).unwrap(), want);
        assert_eq!(payload(br#"{"inputs": {"text": ["a", "b"]}}"#).unwrap(), want);
        for (bad, msg) in [
            (&br#"{"instances": []}"#[..], "empty"),
            (br#"{"instances": [1]}"#, "not a text"),
            (br#"{"foo": 1}"#, "neither"),
            (br#"{nope"#, "malformed"),
        ] {
            let err = payload(bad).unwrap_err();
            assert!(err.to_string().contains(msg), "{err}");
        }
    }
}
