#!/usr/bin/env python3
"""Third-party conformance for TF Serving's APIs: the `tensorflow-serving-api`
package's PredictionServiceStub and ModelServiceStub (Predict with
tf.make_tensor_proto, GetModelMetadata, GetModelStatus, Classify) and the REST
requests TF Serving's documentation shows (status, metadata, row and columnar
predict, classify, errors) against the real berth-serve binary. Embeddings and
probabilities are checked against ONNX Runtime's reference outputs.

usage: tfserving_client.py --binary target/debug/berth-serve --models .cache/models
(run with .cache/tf-venv/bin/python: `make tfserving-conformance`)
"""
import base64
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import grpc  # noqa: E402
import numpy as np  # noqa: E402
import requests  # noqa: E402
import tensorflow as tf  # noqa: E402
from harness import Checks, Process, close, reference, run_main  # noqa: E402
from tensorflow_serving.apis import (  # noqa: E402
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

check = Checks()


class Server(Process):
    """The binary with both TF Serving stubs on one channel."""

    def __init__(self, binary, name, base, extra=()):
        super().__init__(binary, name, base, extra)
        self.rest = "http://" + self.rest
        self.channel = grpc.insecure_channel(self.grpc)
        self.predict = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.models = model_service_pb2_grpc.ModelServiceStub(self.channel)

    def wait_available(self, versions):
        """Until every version in `versions` is AVAILABLE (TF Serving's status API);
        fails at once when a version failed to load."""
        def available():
            body = requests.get(f"{self.rest}/v1/models/{self.name}", timeout=5).json()
            states = {s["version"]: s for s in body.get("model_version_status", [])}
            failed = [s for s in states.values() if s["status"]["error_code"] != "OK"]
            if failed:
                self.stop_with(f"a version failed to load: {failed}")
            return all(states.get(v, {}).get("state") == "AVAILABLE" for v in versions)
        self.wait(available, "serving " + ", ".join(versions))

    def stop_with(self, message):
        self.proc.kill()
        raise SystemExit(message + "\n" + self.log_text())

    def stop(self):
        self.channel.close()
        super().stop()


def rpc_error(call, code, text):
    try:
        call()
    except grpc.RpcError as e:
        assert e.code() == code, (e.code(), e.details())
        assert text in e.details(), e.details()
        return
    raise AssertionError(f"expected {code}")


def predict_request(model, inputs, version=None, label=None, signature=""):
    req = predict_pb2.PredictRequest()
    req.model_spec.name = model
    req.model_spec.signature_name = signature
    if version is not None:
        req.model_spec.version.value = version
    if label is not None:
        req.model_spec.version_label = label
    for key, tensor in inputs.items():
        req.inputs[key].CopyFrom(tensor)
    return req


@check
def grpc_predict_texts(ctx):
    ref, texts = reference(ctx["models"], "tiny")
    req = predict_request("tiny", {"text": tf.make_tensor_proto(texts)}, version=1)
    resp = ctx["tiny"].predict.Predict(req, timeout=30)
    emb = tf.make_ndarray(resp.outputs["embedding"])
    assert emb.shape == (len(texts), 32), emb.shape
    close(emb, [i["embedding"] for i in ref["items"]], "grpc texts")
    assert resp.model_spec.name == "tiny" and resp.model_spec.version.value == 1, resp.model_spec
    assert resp.model_spec.signature_name == "serving_default", resp.model_spec
    # No version: the newest; a scalar string is one text.
    resp = ctx["tiny"].predict.Predict(predict_request("tiny", {"inputs": tf.make_tensor_proto("hello")}), timeout=30)
    assert resp.model_spec.version.value == 2, resp.model_spec
    assert tf.make_ndarray(resp.outputs["embedding"]).shape == (1, 32)


@check
def grpc_predict_token_ids(ctx):
    ref, _ = reference(ctx["models"], "tiny")
    for item in ref["items"]:
        inputs = {k: tf.make_tensor_proto(np.array([item[k]], dtype=np.int64))
                  for k in ("input_ids", "attention_mask", "token_type_ids")}
        resp = ctx["tiny"].predict.Predict(predict_request("tiny", inputs, label="canary", signature="tokenized"))
        close(tf.make_ndarray(resp.outputs["embedding"]), [item["embedding"]], "grpc ids")
        assert resp.model_spec.version.value == 1, "canary is version 1"
    ids = tf.make_tensor_proto(np.array([ref["items"][0]["input_ids"]], dtype=np.int32))
    resp = ctx["tiny"].predict.Predict(predict_request("tiny", {"input_ids": ids}, version=1))
    close(tf.make_ndarray(resp.outputs["embedding"]), [ref["items"][0]["embedding"]], "grpc int32 ids")


@check
def grpc_errors(ctx):
    p = ctx["tiny"].predict
    one = {"text": tf.make_tensor_proto(["x"])}
    rpc_error(lambda: p.Predict(predict_request("tiny", one, version=9)), grpc.StatusCode.NOT_FOUND,
              "Servable not found for request: Specific(tiny, 9)")
    rpc_error(lambda: p.Predict(predict_request("nope", one)), grpc.StatusCode.NOT_FOUND, "Latest(nope)")
    rpc_error(lambda: p.Predict(predict_request("tiny", one, label="beta")), grpc.StatusCode.NOT_FOUND, "beta")
    rpc_error(lambda: p.Predict(predict_request("tiny", one, signature="nope")),
              grpc.StatusCode.FAILED_PRECONDITION, 'Serving signature key "nope" not found')
    floats = {"x": tf.make_tensor_proto(np.array([1.0], dtype=np.float32))}
    rpc_error(lambda: p.Predict(predict_request("tiny", floats)), grpc.StatusCode.INVALID_ARGUMENT, "DT_FLOAT")
    req = classification_pb2.ClassificationRequest()
    req.model_spec.name = "tiny"
    add_example(req, "x")
    rpc_error(lambda: p.Classify(req), grpc.StatusCode.FAILED_PRECONDITION, "not a classifier")


@check
def grpc_model_metadata(ctx):
    req = get_model_metadata_pb2.GetModelMetadataRequest()
    req.model_spec.name = "tiny"
    req.metadata_field.append("signature_def")
    resp = ctx["tiny"].predict.GetModelMetadata(req, timeout=30)
    assert resp.model_spec.version.value == 2, resp.model_spec
    sigs = get_model_metadata_pb2.SignatureDefMap()
    assert resp.metadata["signature_def"].Unpack(sigs), resp.metadata["signature_def"].type_url
    default = sigs.signature_def["serving_default"]
    assert default.method_name == "tensorflow/serving/predict"
    assert default.inputs["text"].dtype == tf.string.as_datatype_enum
    out = default.outputs["embedding"]
    assert out.dtype == tf.float32.as_datatype_enum
    assert [d.size for d in out.tensor_shape.dim] == [-1, 32], out
    assert sigs.signature_def["tokenized"].inputs["input_ids"].dtype == tf.int64.as_datatype_enum


@check
def grpc_model_status(ctx):
    req = get_model_status_pb2.GetModelStatusRequest()
    req.model_spec.name = "tiny"
    resp = ctx["tiny"].models.GetModelStatus(req, timeout=30)
    got = [(s.version, get_model_status_pb2.ModelVersionStatus.State.Name(s.state)) for s in resp.model_version_status]
    assert got == [(2, "AVAILABLE"), (1, "AVAILABLE")], got
    assert all(s.status.error_code == 0 and s.status.error_message == "" for s in resp.model_version_status)
    req.model_spec.version.value = 1
    resp = ctx["tiny"].models.GetModelStatus(req, timeout=30)
    assert [s.version for s in resp.model_version_status] == [1]
    req.model_spec.version.value = 7
    rpc_error(lambda: ctx["tiny"].models.GetModelStatus(req), grpc.StatusCode.NOT_FOUND,
              "Could not find version 7 of model tiny")


def add_example(req, text):
    ex = req.input.example_list.examples.add()
    ex.features.feature["text"].bytes_list.value.append(text.encode())


@check
def grpc_classify(ctx):
    ref, texts = reference(ctx["models"], "tiny-classifier")
    req = classification_pb2.ClassificationRequest()
    req.model_spec.name = "sentiment"
    req.model_spec.signature_name = "classification"
    for t in texts:
        add_example(req, t)
    resp = ctx["classifier"].predict.Classify(req, timeout=30)
    labels = [ref["id2label"][str(i)] for i in range(len(ref["id2label"]))]
    assert len(resp.result.classifications) == len(texts)
    for c, item in zip(resp.result.classifications, ref["items"]):
        assert [x.label for x in c.classes] == labels, c
        close([x.score for x in c.classes], item["probabilities"], "classify scores")
    # Predict on the classifier: probabilities and labels.
    resp = ctx["classifier"].predict.Predict(predict_request("sentiment", {"text": tf.make_tensor_proto(texts)}))
    close(tf.make_ndarray(resp.outputs["probabilities"]), [i["probabilities"] for i in ref["items"]], "probs")
    got = [x.decode() for x in tf.make_ndarray(resp.outputs["label"]).reshape(-1)]
    assert got == [i["label"] for i in ref["items"]], got


# The REST requests TF Serving's documentation shows (api_rest), with this
# model's input names.

def rest(ctx, method, path, body=None, server="tiny"):
    r = requests.request(method, ctx[server].rest + path, json=body, timeout=30)
    return r.status_code, r.json()


@check
def rest_model_status(ctx):
    status, body = rest(ctx, "GET", "/v1/models/tiny")
    assert status == 200, body
    got = [(s["version"], s["state"], s["status"]["error_code"]) for s in body["model_version_status"]]
    assert got == [("2", "AVAILABLE", "OK"), ("1", "AVAILABLE", "OK")], body
    for path, version in (("/v1/models/tiny/versions/1", "1"), ("/v1/models/tiny/labels/canary", "1"),
                          ("/v1/models/tiny/labels/stable", "2")):
        status, body = rest(ctx, "GET", path)
        assert status == 200 and [s["version"] for s in body["model_version_status"]] == [version], (path, body)


@check
def rest_model_metadata(ctx):
    status, body = rest(ctx, "GET", "/v1/models/tiny/versions/1/metadata")
    assert status == 200, body
    assert body["model_spec"] == {"name": "tiny", "signature_name": "", "version": "1"}, body
    sig = body["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert sig["method_name"] == "tensorflow/serving/predict", sig
    assert sig["inputs"]["text"]["dtype"] == "DT_STRING", sig
    assert [d["size"] for d in sig["outputs"]["embedding"]["tensor_shape"]["dim"]] == ["-1", "32"], sig


@check
def rest_predict_row(ctx):
    ref, texts = reference(ctx["models"], "tiny")
    want = [i["embedding"] for i in ref["items"]]
    status, body = rest(ctx, "POST", "/v1/models/tiny/versions/1:predict",
                        {"signature_name": "serving_default", "instances": texts})
    assert status == 200, body
    close(body["predictions"], want, "row, values")
    status, body = rest(ctx, "POST", "/v1/models/tiny/labels/canary:predict",
                        {"instances": [{"text": t} for t in texts]})
    assert status == 200, body
    close(body["predictions"], want, "row, named")
    b64 = [{"b64": base64.b64encode(t.encode()).decode()} for t in texts]
    status, body = rest(ctx, "POST", "/v1/models/tiny/versions/1:predict", {"instances": b64})
    assert status == 200, body
    close(body["predictions"], want, "row, b64")


@check
def rest_predict_columnar(ctx):
    ref, texts = reference(ctx["models"], "tiny")
    status, body = rest(ctx, "POST", "/v1/models/tiny/versions/1:predict", {"inputs": {"text": texts}})
    assert status == 200 and "predictions" not in body, body
    close(body["outputs"], [i["embedding"] for i in ref["items"]], "columnar")
    item = ref["items"][0]
    ids = {k: [item[k]] for k in ("input_ids", "attention_mask", "token_type_ids")}
    status, body = rest(ctx, "POST", "/v1/models/tiny/versions/1:predict", {"inputs": ids})
    assert status == 200, body
    close(body["outputs"], [item["embedding"]], "columnar ids")


@check
def rest_classify(ctx):
    ref, texts = reference(ctx["models"], "tiny-classifier")
    status, body = rest(ctx, "POST", "/v1/models/sentiment:classify",
                        {"signature_name": "classification", "examples": [{"text": t} for t in texts]},
                        server="classifier")
    assert status == 200, body
    for row, item in zip(body["results"], ref["items"]):
        assert [pair[0] for pair in row] == [ref["id2label"]["0"], ref["id2label"]["1"]], row
        close([pair[1] for pair in row], item["probabilities"], "rest classify")


@check
def rest_errors(ctx):
    for method, path, body, code, text in (
        ("GET", "/v1/models/nope", None, 404, "nope"),
        ("POST", "/v1/models/tiny/versions/9:predict", {"instances": ["x"]}, 404, "Specific(tiny, 9)"),
        ("POST", "/v1/models/tiny:predict", {"instances": []}, 400, "empty"),
        ("POST", "/v1/models/tiny:predict", {"instances": [1.5]}, 400, "not an integer"),
        ("POST", "/v1/models/tiny:classify", {"examples": [{"text": "x"}]}, 400, "not a classifier"),
    ):
        status, resp = rest(ctx, method, path, body)
        assert status == code and list(resp) == ["error"] and text in resp["error"], (path, status, resp)
    r = requests.post(ctx["tiny"].rest + "/v1/models/tiny:predict", data="{nope", timeout=30)
    assert r.status_code == 400 and "JSON" in r.json()["error"], r.text


def setup(binary, models):
    tiny = Server(binary, "tiny", os.path.join(models, "tiny"),
                  ["--model_version_policy=all", "--version_labels=canary=1"])
    classifier = Server(binary, "sentiment", os.path.join(models, "tiny-classifier"))
    tiny.wait_available(["1", "2"])
    classifier.wait_available(["1"])
    return {"tiny": tiny, "classifier": classifier}, [tiny, classifier]


if __name__ == "__main__":
    sys.exit(run_main("tfserving-conformance", check, setup))
