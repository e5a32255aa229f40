//! The real berth-serve binary over gRPC (`inference.GRPCInferenceService`):
//! health, metadata, inference with raw and typed contents against ONNX
//! Runtime's reference, and every bad-input case as a gRPC status code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;

use berth_serve::proto::grpc_inference_service_client::GrpcInferenceServiceClient;
use berth_serve::proto::model_infer_request::{InferInputTensor, InferRequestedOutputTensor};
use berth_serve::proto::*;
use common::*;
use tonic::Code;
use tonic::transport::Channel;

async fn connect(server: &Server) -> GrpcInferenceServiceClient<Channel> {
    GrpcInferenceServiceClient::connect(server.grpc.clone()).await.unwrap()
}

fn raw_bytes(items: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for s in items {
        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    out
}

fn raw_f32(raw: &[u8]) -> Vec<f64> {
    raw.chunks_exact(4).map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]]))).collect()
}

fn text_input(n: usize) -> InferInputTensor {
    InferInputTensor { name: "text".into(), datatype: "BYTES".into(), shape: vec![n as i64], ..Default::default() }
}

fn raw_text_request(model: &str, version: &str, texts: &[&str]) -> ModelInferRequest {
    ModelInferRequest {
        model_name: model.into(),
        model_version: version.into(),
        id: "req-1".into(),
        inputs: vec![text_input(texts.len())],
        raw_input_contents: vec![raw_bytes(texts)],
        ..Default::default()
    }
}

#[ignore = "needs `make models` (ONNX models and ONNX Runtime in .cache)"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_health_metadata_and_reference_embeddings() {
    require_models();
    let server = Server::start("tiny", &models_dir().join("tiny"), &["--model_version_policy=all"]);
    let http = reqwest::Client::new();
    server.wait_for(&http, "/v2/models/tiny/versions/1/ready", |s, _| s == 200).await;
    server.wait_for(&http, "/v2/models/tiny/versions/2/ready", |s, _| s == 200).await;
    let mut client = connect(&server).await;

    assert!(client.server_live(ServerLiveRequest {}).await.unwrap().into_inner().live);
    assert!(client.server_ready(ServerReadyRequest {}).await.unwrap().into_inner().ready);
    let ready = client.model_ready(ModelReadyRequest { name: "tiny".into(), version: "1".into() }).await.unwrap();
    assert!(ready.into_inner().ready);
    let meta = client.server_metadata(ServerMetadataRequest {}).await.unwrap().into_inner();
    assert_eq!(meta.name, "berth-serve");
    let meta = client
        .model_metadata(ModelMetadataRequest { name: "tiny".into(), version: String::new() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(meta.versions, vec!["1", "2"]);
    assert_eq!(meta.outputs[0].name, "embedding");
    assert_eq!(meta.outputs[0].shape, vec![-1, 32]);

    let reference = reference("tiny");
    let items = reference["items"].as_array().unwrap();
    let texts: Vec<&str> = items.iter().map(|i| i["text"].as_str().unwrap()).collect();
    let want: Vec<Vec<f64>> = items
        .iter()
        .map(|i| i["embedding"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect())
        .collect();

    // Raw contents, the way tritonclient sends them.
    let resp = client.model_infer(raw_text_request("tiny", "1", &texts)).await.unwrap().into_inner();
    assert_eq!((resp.model_version.as_str(), resp.id.as_str()), ("1", "req-1"));
    assert_eq!(resp.outputs[0].name, "embedding");
    assert_eq!(resp.outputs[0].shape, vec![texts.len() as i64, 32]);
    let got = raw_f32(&resp.raw_output_contents[0]);
    for (g, w) in got.chunks(32).zip(&want) {
        assert!(max_abs_diff(g, w) < 1e-4);
    }

    // Typed contents.
    let mut typed = ModelInferRequest { model_name: "tiny".into(), model_version: "1".into(), ..Default::default() };
    let mut input = text_input(texts.len());
    input.contents = Some(InferTensorContents {
        bytes_contents: texts.iter().map(|t| t.as_bytes().to_vec()).collect(),
        ..Default::default()
    });
    typed.inputs.push(input);
    let resp = client.model_infer(typed).await.unwrap().into_inner();
    assert!(max_abs_diff(&raw_f32(&resp.raw_output_contents[0])[..32], &want[0]) < 1e-4);

    // Pre-tokenized ids, typed.
    let ids: Vec<i64> = items[0]["input_ids"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
    let ids_input = InferInputTensor {
        name: "input_ids".into(),
        datatype: "INT64".into(),
        shape: vec![1, ids.len() as i64],
        contents: Some(InferTensorContents { int64_contents: ids, ..Default::default() }),
        ..Default::default()
    };
    let req = ModelInferRequest {
        model_name: "tiny".into(),
        model_version: "1".into(),
        inputs: vec![ids_input],
        ..Default::default()
    };
    let resp = client.model_infer(req).await.unwrap().into_inner();
    assert!(max_abs_diff(&raw_f32(&resp.raw_output_contents[0]), &want[0]) < 1e-4);
}

#[ignore = "needs `make models` (ONNX models and ONNX Runtime in .cache)"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_classifier_labels() {
    require_models();
    let server = Server::start("sentiment", &models_dir().join("tiny-classifier"), &[]);
    server.wait_ready(&reqwest::Client::new()).await;
    let mut client = connect(&server).await;
    let mut req = raw_text_request("sentiment", "", &["A man is playing a guitar.", "Hello world"]);
    req.outputs = vec![InferRequestedOutputTensor { name: "label".into(), parameters: HashMap::new() }];
    let resp = client.model_infer(req).await.unwrap().into_inner();
    assert_eq!(resp.outputs.len(), 1);
    assert_eq!(resp.outputs[0].datatype, "BYTES");
    let raw = &resp.raw_output_contents[0];
    let first_len = u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]) as usize;
    assert_eq!(&raw[4..4 + first_len], b"NEGATIVE");
}

#[ignore = "needs `make models` (ONNX models and ONNX Runtime in .cache)"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_bad_inputs_get_status_codes() {
    require_models();
    let server = Server::start("tiny", &models_dir().join("tiny"), &["--max_request_bytes=4096"]);
    server.wait_ready(&reqwest::Client::new()).await;
    let mut client = connect(&server).await;
    let base = || ModelInferRequest { model_name: "tiny".into(), ..Default::default() };
    let ids = |shape: Vec<i64>, data: Vec<i64>| InferInputTensor {
        name: "input_ids".into(),
        datatype: "INT64".into(),
        shape,
        contents: Some(InferTensorContents { int64_contents: data, ..Default::default() }),
        ..Default::default()
    };
    let big = "y".repeat(6000);
    let cases: Vec<(ModelInferRequest, Code, &str)> = vec![
        (base(), Code::InvalidArgument, "no inputs"),
        (ModelInferRequest { inputs: vec![text_input(1)], ..base() }, Code::InvalidArgument, "has no data"),
        (raw_text_request("tiny", "", &[]), Code::InvalidArgument, "empty input"),
        (
            ModelInferRequest { inputs: vec![text_input(2)], raw_input_contents: vec![raw_bytes(&["one"])], ..base() },
            Code::InvalidArgument,
            "holds 2 elements",
        ),
        (
            ModelInferRequest {
                inputs: vec![text_input(1)],
                raw_input_contents: vec![vec![9, 0, 0, 0, b'a']],
                ..base()
            },
            Code::InvalidArgument,
            "BYTES element",
        ),
        (
            ModelInferRequest {
                inputs: vec![text_input(1), text_input(1)],
                raw_input_contents: vec![raw_bytes(&["a"])],
                ..base()
            },
            Code::InvalidArgument,
            "raw_input_contents has 1 entries for 2 inputs",
        ),
        (
            ModelInferRequest {
                inputs: vec![InferInputTensor {
                    name: "text".into(),
                    datatype: "FP32".into(),
                    shape: vec![1],
                    ..Default::default()
                }],
                raw_input_contents: vec![vec![0, 0, 0, 0]],
                ..base()
            },
            Code::InvalidArgument,
            "datatype FP32",
        ),
        (
            ModelInferRequest {
                inputs: vec![InferInputTensor { name: "nope".into(), ..text_input(1) }],
                raw_input_contents: vec![raw_bytes(&["a"])],
                ..base()
            },
            Code::InvalidArgument,
            "unexpected inference input \"nope\": the model's inputs are text (BYTES)",
        ),
        (
            ModelInferRequest { inputs: vec![ids(vec![2], vec![101, 102])], ..base() },
            Code::InvalidArgument,
            "[batch, sequence]",
        ),
        (
            ModelInferRequest { inputs: vec![ids(vec![1, 2], vec![101, -5])], ..base() },
            Code::InvalidArgument,
            "vocabulary",
        ),
        (
            ModelInferRequest {
                outputs: vec![InferRequestedOutputTensor { name: "logits".into(), parameters: HashMap::new() }],
                ..raw_text_request("tiny", "", &["a"])
            },
            Code::InvalidArgument,
            "unknown output",
        ),
        (raw_text_request("nope", "", &["a"]), Code::NotFound, "unknown model"),
        (raw_text_request("tiny", "5", &["a"]), Code::NotFound, "no version"),
        (raw_text_request("tiny", "", &[&big]), Code::ResourceExhausted, "too large"),
    ];
    for (req, code, text) in cases {
        let err = client.model_infer(req).await.unwrap_err();
        assert_eq!(err.code(), code, "{}", err.message());
        assert!(err.message().contains(text), "{:?} should mention {text:?}", err.message());
    }
    let err = client.model_ready(ModelReadyRequest { name: "nope".into(), version: String::new() }).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err =
        client.model_metadata(ModelMetadataRequest { name: "tiny".into(), version: "3".into() }).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    // Still serving.
    assert!(client.model_infer(raw_text_request("tiny", "", &["ok"])).await.is_ok());
}

#[ignore = "needs `make models` (ONNX models and ONNX Runtime in .cache)"]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn grpc_overload_is_resource_exhausted() {
    require_models();
    let server = start_overloadable(&reqwest::Client::new()).await;
    let client = connect(&server).await;
    let long = long_text();
    let mut tasks = Vec::new();
    for _ in 0..48 {
        let mut c = client.clone();
        let req = raw_text_request("minilm", "", &[&long, &long, &long, &long]);
        tasks.push(tokio::spawn(async move { c.model_infer(req).await.map(|_| ()) }));
    }
    let (mut ok, mut exhausted) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => ok += 1,
            Err(e) if e.code() == Code::ResourceExhausted => exhausted += 1,
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert!(ok >= 1 && exhausted >= 1, "ok {ok}, exhausted {exhausted}");
}
