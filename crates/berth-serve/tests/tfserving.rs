//! TF Serving's APIs on the real berth-serve binary: REST predict (row,
//! columnar, pre-tokenized) and classify against ONNX Runtime's reference
//! outputs, metadata, status, version labels and every error with its exact
//! code and `{"error"}` body; gRPC PredictionService and ModelService through
//! the generated tonic clients; overload; and our protos against the real
//! descriptors of the `tensorflow-serving-api` package.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;

use berth_serve::tfs_proto::tensorflow::serving::model_service_client::ModelServiceClient;
use berth_serve::tfs_proto::tensorflow::serving::model_spec::VersionChoice;
use berth_serve::tfs_proto::tensorflow::serving::prediction_service_client::PredictionServiceClient;
use berth_serve::tfs_proto::tensorflow::serving::*;
use berth_serve::tfs_proto::tensorflow::tensor_shape_proto::Dim;
use berth_serve::tfs_proto::tensorflow::{
    BytesList, DataType, Example, Feature, Features, TensorProto, TensorShapeProto, feature,
};
use common::*;
use prost::Message;
use serde_json::{Value, json};
use tonic::Code;
use tonic::transport::Channel;

async fn call(client: &reqwest::Client, url: String, body: Option<String>) -> (u16, Value) {
    let req = match body {
        Some(b) => client.post(url).header("content-type", "application/json").body(b),
        None => client.get(url),
    };
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

fn assert_rows(got: &Value, want: &[Vec<f64>], what: &str) {
    let got = got.as_array().unwrap_or_else(|| panic!("{what}: not a list: {got}"));
    assert_eq!(got.len(), want.len(), "{what}");
    for (g, w) in got.iter().zip(want) {
        let d = max_abs_diff(&floats(g), w);
        assert!(d < 1e-4, "{what}: differs by {d}");
    }
}

/// tiny with versions 1 and 2 both loaded; `canary` names version 1.
async fn tiny_server(client: &reqwest::Client) -> Server {
    let server =
        Server::start("tiny", &models_dir().join("tiny"), &["--model_version_policy=all", "--version_labels=canary=1"]);
    server.wait_ready(client).await;
    for v in ["1", "2"] {
        server.wait_for(client, &format!("/v2/models/tiny/versions/{v}/ready"), |s, _| s == 200).await;
    }
    server
}

#[ignore = "needs `make models` (ONNX models and ONNX Runtime in .cache)"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_predict_in_every_form_matches_onnx_runtime() {
    require_models();
    let client = reqwest::Client::new();
    let server = tiny_server(&client).await;
    let reference = reference("tiny");
    let texts = ref_texts(&reference);
    let want = ref_rows(&reference, "embedding");
    let post = |path: &str, body: Value| call(&client, server.url(path), Some(body.to_string()));

    let (status, resp) = post("/v1/models/tiny/versions/1:predict", json!({"instances": texts})).await;
    assert_eq!(status, 200, "{resp}");
    assert_rows(&resp["predictions"], &want, "row texts");
    assert_eq!(resp["model_version"], "1");

    let body = json!({"signature_name": "serving_default", "inputs": {"text": texts}});
    let (status, resp) = post("/v1/models/tiny/labels/canary:predict", body).await;
    assert_eq!(status, 200, "{resp}");
    assert!(resp.get("predictions").is_none(), "columnar answers \"outputs\": {resp}");
    assert_rows(&resp["outputs"], &want, "columnar texts");
    assert_eq!(resp["model_version"], "1");

    let (status, resp) = post("/v1/models/tiny/versions/1:predict", json!({"inputs": texts})).await;
    assert_eq!(status, 200, "{resp}");
    assert_rows(&resp["outputs"], &want, "columnar list");

    // Pre-tokenized rows, padded to the longest with the mask off.
    let items = reference["items"].as_array().unwrap();
    let longest = items.iter().map(|i| i["input_ids"].as_array().unwrap().len()).max().unwrap();
    let pad = |v: &Value| -> Vec<i64> {
        let mut row: Vec<i64> = v.as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect();
        row.resize(longest, 0);
        row
    };
    let instances: Vec<Value> = items
        .iter()
        .map(|i| {
            json!({"input_ids": pad(&i["input_ids"]), "attention_mask": pad(&i["attention_mask"]),
                   "token_type_ids": pad(&i["token_type_ids"])})
        })
        .collect();
    let body = json!({"signature_name": "tokenized", "instances": instances});
    let (status, resp) = post("/v1/models/tiny/versions/1:predict", body).await;
    assert_eq!(status, 200, "{resp}");
    assert_rows(&resp["predictions"], &want, "pre-tokenized rows");

    // Labels: stable is the version default traffic goes to (the newest).
    let (status, resp) = post("/v1/models/tiny/labels/stable:predict", json!({"instances": ["hi"]})).await;
    assert_eq!((status, resp["model_version"].as_str()), (200, Some("2")));
    let (status, resp) = post("/v1/models/tiny:predict", json!({"instances": [{"text": "hi"}]})).await;
    assert_eq!((status, resp["model_version"].as_str()), (200, Some("2")));
}

#[ignore = "needs `make models` (ONNX models and ONNX Runtime in .cache)"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_errors_have_tf_serving_codes_and_bodies() {
    require_models();
    let client = reqwest::Client::new();
    let server = tiny_server(&client).await;
    let cases: [(&str, Option<&str>, u16, &str); 17] = [
        ("/v1/models/tiny:predict", Some("{nope"), 400, "JSON Parse error"),
        ("/v1/models/tiny:predict", Some(r#"{"instances": []}"#), 400, "empty input"),
        ("/v1/models/tiny:predict", Some(r#"{"foo": 1}"#), 400, "Missing 'inputs' or 'instances' key"),
        ("/v1/models/tiny:predict", Some(r#"{"instances": [[0.5, 1.5]]}"#), 400, "is not an integer"),
        (
            "/v1/models/tiny:predict",
            Some(r#"{"instances": [{"text": 5}]}"#),
            400,
            "unexpected inference input \"text\"",
        ),
        (
            "/v1/models/tiny:predict",
            Some(r#"{"instances": [{"input_ids": [1, 99999]}]}"#),
            400,
            "outside the vocabulary",
        ),
        (
            "/v1/models/tiny:predict",
            Some(r#"{"signature_name": "nope", "instances": ["a"]}"#),
            400,
            "Serving signature key \"nope\" not found",
        ),
        (
            "/v1/models/nope:predict",
            Some(r#"{"instances": ["a"]}"#),
            404,
            "Servable not found for request: Latest(nope)",
        ),
        (
            "/v1/models/tiny/versions/9:predict",
            Some(r#"{"instances": ["a"]}"#),
            404,
            "Servable not found for request: Specific(tiny, 9)",
        ),
        ("/v1/models/tiny/labels/beta:predict", Some(r#"{"instances": ["a"]}"#), 404, "labelled \"beta\""),
        ("/v1/models/tiny:classify", Some(r#"{"examples": [{"text": "a"}]}"#), 400, "is not a classifier"),
        ("/v1/models/tiny:regress", Some(r#"{"examples": [{"text": "a"}]}"#), 501, "Regress is not implemented"),
        ("/v1/models/tiny:explain", Some("{}"), 404, "no endpoint"),
        ("/v1/models/tiny/versions/9", None, 404, "Could not find version 9 of model tiny"),
        ("/v1/models/nope", None, 404, "Could not find any versions of model nope"),
        ("/v1/models/tiny/labels/beta/metadata", None, 404, "labelled \"beta\""),
        ("/v1/models/tiny/versions/1/extra", None, 404, "no endpoint"),
    ];
    for (path, body, want_status, want_error) in cases {
        let (status, resp) = call(&client, server.url(path), body.map(str::to_string)).await;
        assert_eq!(status, want_status, "{path} {body:?}: {resp}");
        let error = resp["error"].as_str().unwrap_or_else(|| panic!("{path}: no \"error\" string in {resp}"));
        assert!(error.contains(want_error), "{path} {body:?}: {error:?} should contain {want_error:?}");
        assert_eq!(resp.as_object().unwrap().len(), 1, "{path}: only \"error\": {resp}");
    }
}

#[ignore = "needs `make models` (ONNX models and ONNX Runtime in .cache)"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_status_and_metadata() {
    require_models();
    let client = reqwest::Client::new();
    let server = tiny_server(&client).await;
    let get = |path: &str| call(&client, server.url(path), None);

    let (status, resp) = get("/v1/models/tiny").await;
    assert_eq!(status, 200, "{resp}");
    let versions: Vec<&str> =
        resp["model_version_status"].as_array().unwrap().iter().map(|s| s["version"].as_str().unwrap()).collect();
    assert_eq!(versions, ["2", "1"], "newest first: {resp}");
    assert_eq!(resp["model_version_status"][0]["state"], "AVAILABLE");
    assert_eq!(resp["model_version_status"][0]["status"], json!({"error_code": "OK", "error_message": ""}));
    let (status, resp) = get("/v1/models/tiny/labels/canary").await;
    assert_eq!((status, resp["model_version_status"][0]["version"].as_str()), (200, Some("1")), "{resp}");
    let (status, resp) = get("/v1/models/tiny/versions/2").await;
    assert_eq!((status, resp["model_version_status"].as_array().unwrap().len()), (200, 1));

    let (status, meta) = get("/v1/models/tiny/metadata").await;
    assert_eq!(status, 200, "{meta}");
    assert_eq!(meta["model_spec"], json!({"name": "tiny", "signature_name": "", "version": "2"}));
    let defs = &meta["metadata"]["signature_def"]["signature_def"];
    let default = &defs["serving_default"];
    assert_eq!(default["method_name"], "tensorflow/serving/predict");
    assert_eq!(default["inputs"]["text"]["dtype"], "DT_STRING");
    assert_eq!(default["inputs"]["text"]["tensor_shape"]["dim"], json!([{"size": "-1", "name": ""}]));
    let out = &default["outputs"]["embedding"];
    assert_eq!(out["dtype"], "DT_FLOAT");
    assert_eq!(out["tensor_shape"]["dim"], json!([{"size": "-1", "name": ""}, {"size": "32", "name": ""}]));
    let tokenized = &defs["tokenized"]["inputs"];
    for name in ["input_ids", "attention_mask", "token_type_ids"] {
        assert_eq!(tokenized[name]["dtype"], "DT_INT64", "{name}: {meta}");
    }
    assert!(defs.get("classification").is_none(), "an embedding model has no classify signature: {meta}");
    let (status, meta) = get("/v1/models/tiny/labels/canary/metadata").await;
    assert_eq!((status, meta["model_spec"]["version"].as_str()), (200, Some("1")));
}

#[ignore = "needs `make models` (ONNX models and ONNX Runtime in .cache)"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_classify_and_predict_on_a_classifier() {
    require_models();
    let client = reqwest::Client::new();
    let server = Server::start("sentiment", &models_dir().join("tiny-classifier"), &[]);
    server.wait_ready(&client).await;
    let reference = reference("tiny-classifier");
    let texts = ref_texts(&reference);
    let want_p = ref_rows(&reference, "probabilities");
    let want_l: Vec<&str> =
        reference["items"].as_array().unwrap().iter().map(|i| i["label"].as_str().unwrap()).collect();
    let id2label = &reference["id2label"];
    let labels = [id2label["0"].as_str().unwrap(), id2label["1"].as_str().unwrap()];
    let post = |path: &str, body: Value| call(&client, server.url(path), Some(body.to_string()));

    let examples: Vec<Value> = texts.iter().map(|t| json!({"text": t})).collect();
    let (status, resp) = post("/v1/models/sentiment:classify", json!({"examples": examples})).await;
    assert_eq!(status, 200, "{resp}");
    let results = resp["results"].as_array().unwrap();
    assert_eq!(results.len(), texts.len());
    for (row, want) in results.iter().zip(&want_p) {
        let pairs = row.as_array().unwrap();
        let got_labels: Vec<&str> = pairs.iter().map(|p| p[0].as_str().unwrap()).collect();
        assert_eq!(got_labels, labels, "{resp}");
        let scores: Vec<f64> = pairs.iter().map(|p| p[1].as_f64().unwrap()).collect();
        assert!(max_abs_diff(&scores, want) < 1e-4, "{resp}");
    }
    // The context supplies the text when an example has none.
    let body = json!({"signature_name": "classification", "context": {"text": texts[0]}, "examples": [{"id": 1}]});
    let (status, resp) = post("/v1/models/sentiment/versions/1:classify", body).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["results"][0][0][0], labels[0]);

    let (status, resp) = post("/v1/models/sentiment:predict", json!({"instances": texts})).await;
    assert_eq!(status, 200, "{resp}");
    for ((row, p), l) in resp["predictions"].as_array().unwrap().iter().zip(&want_p).zip(&want_l) {
        assert!(max_abs_diff(&floats(&row["probabilities"]), p) < 1e-4, "{resp}");
        assert_eq!(row["label"], *l);
    }
    let (status, resp) = post("/v1/models/sentiment:predict", json!({"inputs": {"text": texts}})).await;
    assert_eq!(status, 200, "{resp}");
    assert_rows(&resp["outputs"]["probabilities"], &want_p, "columnar probabilities");
    assert_eq!(resp["outputs"]["label"], json!(want_l));

    let (status, meta) = call(&client, server.url("/v1/models/sentiment/metadata"), None).await;
    assert_eq!(status, 200, "{meta}");
    let classify = &meta["metadata"]["signature_def"]["signature_def"]["classification"];
    assert_eq!(classify["method_name"], "tensorflow/serving/classify", "{meta}");
    assert_eq!(classify["outputs"]["scores"]["dtype"], "DT_FLOAT");
    assert_eq!(classify["outputs"]["classes"]["dtype"], "DT_STRING");
    let (status, resp) = post("/v1/models/sentiment:classify", json!({"examples": [{"a": "x", "b": "y"}]})).await;
    assert_eq!(status, 400);
    assert!(resp["error"].as_str().unwrap().contains("several bytes features"), "{resp}");
}

fn shape(dims: &[i64]) -> Option<TensorShapeProto> {
    Some(TensorShapeProto {
        dim: dims.iter().map(|&size| Dim { size, name: String::new() }).collect(),
        unknown_rank: false,
    })
}

fn strings(texts: &[String]) -> TensorProto {
    TensorProto {
        dtype: DataType::DtString as i32,
        tensor_shape: shape(&[texts.len() as i64]),
        string_val: texts.iter().map(|t| t.as_bytes().to_vec()).collect(),
        ..Default::default()
    }
}

fn spec(model: &str, version: Option<VersionChoice>, signature: &str) -> Option<ModelSpec> {
    Some(ModelSpec { name: model.into(), version_choice: version, signature_name: signature.into() })
}

fn predict_request(model_spec: Option<ModelSpec>, inputs: Vec<(&str, TensorProto)>) -> PredictRequest {
    PredictRequest {
        model_spec,
        inputs: inputs.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        output_filter: Vec::new(),
    }
}

/// Rows of a [n, width] DT_FLOAT output.
fn float_rows(t: &TensorProto) -> Vec<Vec<f64>> {
    assert_eq!(t.dtype, DataType::DtFloat as i32);
    let dims: Vec<i64> = t.tensor_shape.as_ref().unwrap().dim.iter().map(|d| d.size).collect();
    assert_eq!(dims.len(), 2, "{dims:?}");
    t.float_val.chunks(dims[1] as usize).map(|r| r.iter().map(|&x| f64::from(x)).collect()).collect()
}

fn assert_close(got: &[Vec<f64>], want: &[Vec<f64>], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (g, w) in got.iter().zip(want) {
        assert!(max_abs_diff(g, w) < 1e-4, "{what}: differs by {}", max_abs_diff(g, w));
    }
}

fn code_and_message<T: std::fmt::Debug>(r: Result<tonic::Response<T>, tonic::Status>) -> (Code, String) {
    let e = r.unwrap_err();
    (e.code(), e.message().to_string())
}

#[ignore = "needs `make models` (ONNX models and ONNX Runtime in .cache)"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_predict_metadata_and_status() {
    require_models();
    let client = reqwest::Client::new();
    let server = tiny_server(&client).await;
    let channel = Channel::from_shared(server.grpc.clone()).unwrap().connect().await.unwrap();
    let mut predict = PredictionServiceClient::new(channel.clone());
    let mut models = ModelServiceClient::new(channel);
    let reference = reference("tiny");
    let texts = ref_texts(&reference);
    let want = ref_rows(&reference, "embedding");

    // Texts under any input key; version 1 by number.
    let req = predict_request(spec("tiny", Some(VersionChoice::Version(1)), ""), vec![("sentences", strings(&texts))]);
    let resp = predict.predict(req).await.unwrap().into_inner();
    assert_close(&float_rows(&resp.outputs["embedding"]), &want, "grpc texts");
    let answered = resp.model_spec.unwrap();
    assert_eq!((answered.name.as_str(), answered.signature_name.as_str()), ("tiny", "serving_default"));
    assert_eq!(answered.version_choice, Some(VersionChoice::Version(1)));

    // Pre-tokenized: int64 ids as tensor_content (what tf.make_tensor_proto
    // writes for numpy), int32 mask in int_val, one row each.
    for (item, w) in reference["items"].as_array().unwrap().iter().zip(&want) {
        let ids: Vec<i64> = item["input_ids"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
        let n = ids.len() as i64;
        let ids = TensorProto {
            dtype: DataType::DtInt64 as i32,
            tensor_shape: shape(&[1, n]),
            tensor_content: ids.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        };
        let mask = TensorProto {
            dtype: DataType::DtInt32 as i32,
            tensor_shape: shape(&[1, n]),
            int_val: vec![1; n as usize],
            ..Default::default()
        };
        let version = Some(VersionChoice::VersionLabel("canary".into()));
        let req =
            predict_request(spec("tiny", version, "tokenized"), vec![("input_ids", ids), ("attention_mask", mask)]);
        let resp = predict.predict(req).await.unwrap().into_inner();
        assert_close(&float_rows(&resp.outputs["embedding"]), std::slice::from_ref(w), "grpc ids");
        assert_eq!(resp.model_spec.unwrap().version_choice, Some(VersionChoice::Version(1)), "canary is 1");
    }

    // Default version, output filter.
    let mut req = predict_request(spec("tiny", None, ""), vec![("text", strings(&texts[..1]))]);
    req.output_filter = vec!["embedding".into()];
    let resp = predict.predict(req.clone()).await.unwrap().into_inner();
    assert_eq!(resp.model_spec.unwrap().version_choice, Some(VersionChoice::Version(2)));
    req.output_filter = vec!["logits".into()];
    let (code, msg) = code_and_message(predict.predict(req).await);
    assert_eq!(code, Code::InvalidArgument);
    assert!(msg.contains("unknown output \"logits\""), "{msg}");

    let bad_cases = [
        (spec("nope", None, ""), "text", Code::NotFound, "Servable not found for request: Latest(nope)"),
        (spec("tiny", Some(VersionChoice::Version(9)), ""), "text", Code::NotFound, "Specific(tiny, 9)"),
        (spec("tiny", Some(VersionChoice::VersionLabel("beta".into())), ""), "text", Code::NotFound, "\"beta\""),
        (spec("tiny", None, "nope"), "text", Code::FailedPrecondition, "Serving signature key \"nope\" not found"),
        (None, "text", Code::InvalidArgument, "Missing ModelSpec name"),
    ];
    for (model_spec, key, want_code, want_msg) in bad_cases {
        let req = predict_request(model_spec.clone(), vec![(key, strings(&texts[..1]))]);
        let (code, msg) = code_and_message(predict.predict(req).await);
        assert_eq!(code, want_code, "{model_spec:?}: {msg}");
        assert!(msg.contains(want_msg), "{model_spec:?}: {msg:?} should contain {want_msg:?}");
    }
    let float = TensorProto {
        dtype: DataType::DtFloat as i32,
        tensor_shape: shape(&[1]),
        float_val: vec![1.0],
        ..Default::default()
    };
    let (code, msg) =
        code_and_message(predict.predict(predict_request(spec("tiny", None, ""), vec![("x", float)])).await);
    assert_eq!(code, Code::InvalidArgument);
    assert!(msg.contains("DT_FLOAT is not accepted"), "{msg}");
    let empty = strings(&[]);
    let (code, msg) =
        code_and_message(predict.predict(predict_request(spec("tiny", None, ""), vec![("text", empty)])).await);
    assert_eq!(code, Code::InvalidArgument);
    assert!(msg.contains("empty"), "{msg}");

    // Metadata: a SignatureDefMap in an Any.
    let req =
        GetModelMetadataRequest { model_spec: spec("tiny", None, ""), metadata_field: vec!["signature_def".into()] };
    let meta = predict.get_model_metadata(req).await.unwrap().into_inner();
    assert_eq!(meta.model_spec.unwrap().version_choice, Some(VersionChoice::Version(2)));
    let any = &meta.metadata["signature_def"];
    assert_eq!(any.type_url, "type.googleapis.com/tensorflow.serving.SignatureDefMap");
    let map = SignatureDefMap::decode(any.value.as_slice()).unwrap();
    let default = &map.signature_def["serving_default"];
    assert_eq!(default.method_name, "tensorflow/serving/predict");
    assert_eq!(default.inputs["text"].dtype, DataType::DtString as i32);
    let out = &default.outputs["embedding"];
    let dims: Vec<i64> = out.tensor_shape.as_ref().unwrap().dim.iter().map(|d| d.size).collect();
    assert_eq!((out.dtype, dims), (DataType::DtFloat as i32, vec![-1, 32]));
    assert_eq!(map.signature_def["tokenized"].inputs["input_ids"].dtype, DataType::DtInt64 as i32);
    let req = GetModelMetadataRequest { model_spec: spec("tiny", None, ""), metadata_field: vec![] };
    assert_eq!(code_and_message(predict.get_model_metadata(req).await).0, Code::InvalidArgument);

    // Status: every version, newest first, or one.
    let status = models.get_model_status(GetModelStatusRequest { model_spec: spec("tiny", None, "") }).await;
    let list = status.unwrap().into_inner().model_version_status;
    let got: Vec<(i64, i32)> = list.iter().map(|s| (s.version, s.state)).collect();
    let available = model_version_status::State::Available as i32;
    assert_eq!(got, [(2, available), (1, available)]);
    assert_eq!(list[0].status.as_ref().unwrap().error_code, 0);
    let one = GetModelStatusRequest { model_spec: spec("tiny", Some(VersionChoice::Version(1)), "") };
    assert_eq!(models.get_model_status(one).await.unwrap().into_inner().model_version_status.len(), 1);
    let missing = GetModelStatusRequest { model_spec: spec("tiny", Some(VersionChoice::Version(9)), "") };
    let (code, msg) = code_and_message(models.get_model_status(missing).await);
    assert_eq!((code, msg.as_str()), (Code::NotFound, "Could not find version 9 of model tiny"));

    // Classify on an embedding model, and the methods that are not served.
    let classify = ClassificationRequest { model_spec: spec("tiny", None, ""), input: Some(examples(&texts[..1])) };
    let (code, msg) = code_and_message(predict.classify(classify).await);
    assert_eq!(code, Code::FailedPrecondition);
    assert!(msg.contains("is not a classifier"), "{msg}");
    let regress = RegressionRequest { model_spec: spec("tiny", None, ""), input: None };
    assert_eq!(code_and_message(predict.regress(regress).await).0, Code::Unimplemented);
    let reload = ReloadConfigRequest { metric_names: vec![] };
    assert_eq!(code_and_message(models.handle_reload_config_request(reload).await).0, Code::Unimplemented);
}

fn examples(texts: &[String]) -> Input {
    let example = |t: &String| Example {
        features: Some(Features {
            feature: HashMap::from([(
                "text".to_string(),
                Feature { kind: Some(feature::Kind::BytesList(BytesList { value: vec![t.as_bytes().to_vec()] })) },
            )]),
        }),
    };
    Input { kind: Some(input::Kind::ExampleList(ExampleList { examples: texts.iter().map(example).collect() })) }
}

#[ignore = "needs `make models` (ONNX models and ONNX Runtime in .cache)"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_classify_and_load_errors_in_status() {
    require_models();
    // Version 1 is the classifier, version 2 is broken.
    let base = tempfile::tempdir().unwrap();
    copy_version(&models_dir().join("tiny-classifier/1"), &base.path().join("1"));
    std::fs::create_dir_all(base.path().join("2")).unwrap();
    std::fs::write(base.path().join("2/config.json"), "{not json").unwrap();
    let client = reqwest::Client::new();
    let server = Server::start("sentiment", base.path(), &["--model_version_policy=all"]);
    server.wait_ready(&client).await;
    server
        .wait_for(&client, "/v1/models/sentiment/versions/2", |_, b| b["model_version_status"][0]["state"] == "END")
        .await;
    let channel = Channel::from_shared(server.grpc.clone()).unwrap().connect().await.unwrap();
    let mut predict = PredictionServiceClient::new(channel.clone());
    let mut models = ModelServiceClient::new(channel);
    let reference = reference("tiny-classifier");
    let texts = ref_texts(&reference);
    let want = ref_rows(&reference, "probabilities");

    let req =
        ClassificationRequest { model_spec: spec("sentiment", None, "classification"), input: Some(examples(&texts)) };
    let resp = predict.classify(req).await.unwrap().into_inner();
    assert_eq!(resp.model_spec.unwrap().version_choice, Some(VersionChoice::Version(1)));
    let rows = resp.result.unwrap().classifications;
    assert_eq!(rows.len(), texts.len());
    for (row, w) in rows.iter().zip(&want) {
        let labels: Vec<&str> = row.classes.iter().map(|c| c.label.as_str()).collect();
        assert_eq!(
            labels,
            [reference["id2label"]["0"].as_str().unwrap(), reference["id2label"]["1"].as_str().unwrap()]
        );
        let scores: Vec<f64> = row.classes.iter().map(|c| f64::from(c.score)).collect();
        assert!(max_abs_diff(&scores, w) < 1e-4);
    }
    let empty = ClassificationRequest { model_spec: spec("sentiment", None, ""), input: Some(examples(&[])) };
    assert_eq!(code_and_message(predict.classify(empty).await).0, Code::InvalidArgument);

    let req = predict_request(spec("sentiment", None, ""), vec![("text", strings(&texts))]);
    let out = predict.predict(req).await.unwrap().into_inner().outputs;
    assert_close(&float_rows(&out["probabilities"]), &want, "grpc probabilities");
    let labels: Vec<String> = out["label"].string_val.iter().map(|b| String::from_utf8(b.clone()).unwrap()).collect();
    let want_labels: Vec<&str> =
        reference["items"].as_array().unwrap().iter().map(|i| i["label"].as_str().unwrap()).collect();
    assert_eq!(labels, want_labels);

    let list = models.get_model_status(GetModelStatusRequest { model_spec: spec("sentiment", None, "") }).await;
    let list = list.unwrap().into_inner().model_version_status;
    let broken = list.iter().find(|s| s.version == 2).unwrap();
    assert_eq!(broken.state, model_version_status::State::End as i32);
    let status = broken.status.as_ref().unwrap();
    assert_eq!(status.error_code, berth_serve::tfs_proto::tensorflow::error::Code::Unknown as i32);
    assert!(!status.error_message.is_empty());
    // Version 2 exists but is not AVAILABLE: not found, with the reason.
    let req =
        predict_request(spec("sentiment", Some(VersionChoice::Version(2)), ""), vec![("text", strings(&texts[..1]))]);
    let (code, msg) = code_and_message(predict.predict(req).await);
    assert_eq!(code, Code::NotFound);
    assert!(msg.contains("Specific(sentiment, 2)") && msg.contains("END"), "{msg}");
}

#[ignore = "needs `make models` (ONNX models and ONNX Runtime in .cache)"]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overload_is_429_and_resource_exhausted() {
    require_models();
    let client = reqwest::Client::new();
    let server = start_overloadable(&client).await;
    let texts = vec![long_text(); 4];
    let channel = Channel::from_shared(server.grpc.clone()).unwrap().connect().await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..48 {
        let (c, url, texts, channel) =
            (client.clone(), server.url("/v1/models/minilm:predict"), texts.clone(), channel.clone());
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                let (status, body) = call(&c, url, Some(json!({"instances": texts}).to_string())).await;
                (status == 429, status == 200, body.to_string())
            } else {
                let req = predict_request(spec("minilm", None, ""), vec![("text", strings(&texts))]);
                match PredictionServiceClient::new(channel).predict(req).await {
                    Ok(_) => (false, true, String::new()),
                    Err(e) => (e.code() == Code::ResourceExhausted, false, e.message().to_string()),
                }
            }
        }));
    }
    let (mut overloaded, mut ok) = (0, 0);
    for t in tasks {
        let (busy, fine, body) = t.await.unwrap();
        assert!(busy || fine, "neither answered nor overloaded: {body}");
        if busy {
            assert!(body.contains("queue"), "{body}");
        }
        overloaded += usize::from(busy);
        ok += usize::from(fine);
    }
    assert!(ok >= 1 && overloaded >= 1, "ok {ok}, overloaded {overloaded}");
}

mod protos {
    //! Our trimmed protos against the real descriptors: every message, field,
    //! enum value and method we declare must exist in the
    //! `tensorflow-serving-api` package with the same number, type and label.

    use std::collections::HashMap;
    use std::path::Path;

    use prost::Message;
    use prost_types::{DescriptorProto, EnumDescriptorProto, FileDescriptorSet};

    #[derive(Default)]
    struct Index<'a> {
        messages: HashMap<String, &'a DescriptorProto>,
        enums: HashMap<String, &'a EnumDescriptorProto>,
        methods: HashMap<String, (String, String)>,
    }

    fn add_message<'a>(index: &mut Index<'a>, scope: &str, m: &'a DescriptorProto) {
        let name = format!("{scope}.{}", m.name());
        for nested in &m.nested_type {
            add_message(index, &name, nested);
        }
        for e in &m.enum_type {
            index.enums.insert(format!("{name}.{}", e.name()), e);
        }
        index.messages.insert(name, m);
    }

    fn index(set: &FileDescriptorSet) -> Index<'_> {
        let mut index = Index::default();
        for file in &set.file {
            let scope = format!(".{}", file.package());
            file.message_type.iter().for_each(|m| add_message(&mut index, &scope, m));
            for e in &file.enum_type {
                index.enums.insert(format!("{scope}.{}", e.name()), e);
            }
            for s in &file.service {
                for m in &s.method {
                    let key = format!("{scope}.{}/{}", s.name(), m.name());
                    index.methods.insert(key, (m.input_type().to_string(), m.output_type().to_string()));
                }
            }
        }
        index
    }

    fn oneof(m: &DescriptorProto, f: &prost_types::FieldDescriptorProto) -> Option<String> {
        // proto3 `optional` fields sit in a synthetic oneof; not a real one.
        f.oneof_index.filter(|_| !f.proto3_optional()).map(|i| m.oneof_decl[i as usize].name().to_string())
    }

    #[test]
    fn match_tensorflow_serving_api() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let python = root.join(".cache/tf-venv/bin/python");
        if !python.is_file() {
            eprintln!("skipped: no {} (run `make tf-setup`)", python.display());
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("fds.pb");
        // Output kept: TensorFlow's import notice on stderr is noise unless it fails.
        let run = std::process::Command::new(&python)
            .arg(root.join("scripts/tf/tfs_protos.py"))
            .args(["fds", "--out"])
            .arg(&out)
            .env("TF_CPP_MIN_LOG_LEVEL", "2")
            .output()
            .unwrap();
        assert!(run.status.success(), "tfs_protos.py fds failed: {}", String::from_utf8_lossy(&run.stderr));
        let real_set = FileDescriptorSet::decode(std::fs::read(&out).unwrap().as_slice()).unwrap();
        let ours_set = FileDescriptorSet::decode(berth_serve::tfs_proto::DESCRIPTORS).unwrap();
        let (real, ours) = (index(&real_set), index(&ours_set));
        let mut problems = Vec::new();
        let mut fields = 0;
        for (name, m) in &ours.messages {
            let Some(r) = real.messages.get(name) else {
                problems.push(format!("{name}: no such message"));
                continue;
            };
            for f in &m.field {
                fields += 1;
                match r.field.iter().find(|rf| rf.name() == f.name()) {
                    None => problems.push(format!("{name}.{}: no such field", f.name())),
                    Some(rf) => {
                        let ours = (f.number(), f.r#type(), f.type_name(), f.label(), oneof(m, f));
                        let theirs = (rf.number(), rf.r#type(), rf.type_name(), rf.label(), oneof(r, rf));
                        if ours != theirs {
                            problems.push(format!("{name}.{}: ours {ours:?}, real {theirs:?}", f.name()));
                        }
                    }
                }
            }
        }
        for (name, e) in &ours.enums {
            let Some(r) = real.enums.get(name) else {
                problems.push(format!("{name}: no such enum"));
                continue;
            };
            for v in &e.value {
                if !r.value.iter().any(|rv| rv.name() == v.name() && rv.number() == v.number()) {
                    problems.push(format!("{name}.{} = {}: not in the real enum", v.name(), v.number()));
                }
            }
        }
        for (name, types) in &ours.methods {
            if real.methods.get(name) != Some(types) {
                problems.push(format!("{name}: ours {types:?}, real {:?}", real.methods.get(name)));
            }
        }
        assert!(problems.is_empty(), "our protos differ from tensorflow-serving-api:\n{}", problems.join("\n"));
        assert!(ours.messages.len() > 30 && fields > 80 && ours.methods.len() == 7, "too little compared");
    }
}
