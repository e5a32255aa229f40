#!/usr/bin/env python3
"""Third-party conformance: NVIDIA's tritonclient (HTTP and gRPC) against the
real berth-serve binary. Reads health and metadata, runs inference with the
client's defaults (binary tensor data) and with JSON data, and checks the
answers against ONNX Runtime's reference outputs.

usage: conformance.py --binary target/debug/berth-serve --models .cache/models
"""
import os
import sys

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from harness import Checks, Process, close, reference, run_main
from tritonclient.utils import InferenceServerException

check = Checks()


class Server(Process):
    """The binary with tritonclient's HTTP and gRPC clients, once ready."""

    def __init__(self, binary, name, base, extra=()):
        super().__init__(binary, name, base, extra)
        self.http = httpclient.InferenceServerClient(self.rest)
        self.grpcc = grpcclient.InferenceServerClient(self.grpc)
        self.wait(self.http.is_server_ready)


def text_input(mod, texts, binary=None):
    inp = mod.InferInput("text", [len(texts)], "BYTES")
    arr = np.array([t.encode() for t in texts], dtype=np.object_)
    if binary is None:
        inp.set_data_from_numpy(arr)
    else:
        inp.set_data_from_numpy(arr, binary_data=binary)
    return inp


@check
def health_and_metadata(ctx):
    s = ctx["tiny"]
    for c in (s.http, s.grpcc):
        assert c.is_server_live()
        assert c.is_server_ready()
        assert c.is_model_ready("tiny")
        assert c.is_model_ready("tiny", "1")
    # An unknown version is not ready (HTTP: 404 -> False; gRPC: NOT_FOUND).
    assert not s.http.is_model_ready("tiny", "7")
    try:
        s.grpcc.is_model_ready("tiny", "7")
        raise AssertionError("gRPC ModelReady for an unknown version did not fail")
    except InferenceServerException as e:
        assert "NOT_FOUND" in str(e), str(e)
    meta = s.http.get_server_metadata()
    assert meta["name"] == "berth-serve", meta
    assert "binary_tensor_data" in meta["extensions"]
    gmeta = s.grpcc.get_server_metadata()
    assert gmeta.name == "berth-serve"
    mm = s.http.get_model_metadata("tiny")
    assert mm["versions"] == ["1", "2"], mm
    assert mm["outputs"] == [{"name": "embedding", "datatype": "FP32", "shape": [-1, 32]}], mm
    names = [i["name"] for i in mm["inputs"]]
    assert names[0] == "text" and "input_ids" in names, mm
    gm = s.grpcc.get_model_metadata("tiny", "1")
    assert gm.outputs[0].name == "embedding" and list(gm.outputs[0].shape) == [-1, 32]


@check
def http_infer_defaults_binary(ctx):
    """Client defaults: binary input data, binary_data_output (no outputs named)."""
    ref, texts = reference(ctx["models"], "tiny")
    res = ctx["tiny"].http.infer("tiny", [text_input(httpclient, texts)], model_version="1")
    emb = res.as_numpy("embedding")
    assert emb.shape == (len(texts), 32), emb.shape
    close(emb, [i["embedding"] for i in ref["items"]], "http binary")
    assert res.get_response()["model_version"] == "1"


@check
def http_infer_json(ctx):
    ref, texts = reference(ctx["models"], "tiny")
    out = httpclient.InferRequestedOutput("embedding", binary_data=False)
    res = ctx["tiny"].http.infer("tiny", [text_input(httpclient, texts, binary=False)], model_version="1",
                                 outputs=[out], request_id="abc")
    close(res.as_numpy("embedding"), [i["embedding"] for i in ref["items"]], "http json")
    assert res.get_response()["id"] == "abc"


@check
def http_infer_ids(ctx):
    ref, _ = reference(ctx["models"], "tiny")
    item = ref["items"][0]
    inputs = []
    for name in ("input_ids", "attention_mask", "token_type_ids"):
        inp = httpclient.InferInput(name, [1, len(item[name])], "INT64")
        inp.set_data_from_numpy(np.array([item[name]], dtype=np.int64))
        inputs.append(inp)
    res = ctx["tiny"].http.infer("tiny", inputs, model_version="1")
    close(res.as_numpy("embedding")[0], item["embedding"], "http ids")


@check
def grpc_infer(ctx):
    ref, texts = reference(ctx["models"], "tiny")
    res = ctx["tiny"].grpcc.infer("tiny", [text_input(grpcclient, texts)], model_version="1",
                                  outputs=[grpcclient.InferRequestedOutput("embedding")])
    close(res.as_numpy("embedding"), [i["embedding"] for i in ref["items"]], "grpc")
    assert res.get_response().model_version == "1"
    # Default version: the newest.
    res = ctx["tiny"].grpcc.infer("tiny", [text_input(grpcclient, ["hello"])])
    assert res.get_response().model_version == "2"


@check
def classifier_over_both(ctx):
    ref, texts = reference(ctx["models"], "tiny-classifier")
    s = ctx["classifier"]
    want_p = [i["probabilities"] for i in ref["items"]]
    want_l = [i["label"] for i in ref["items"]]
    hres = s.http.infer("sentiment", [text_input(httpclient, texts)])
    gres = s.grpcc.infer("sentiment", [text_input(grpcclient, texts)])
    for res, what in ((hres, "http"), (gres, "grpc")):
        close(res.as_numpy("probabilities"), want_p, what)
        labels = [x.decode() if isinstance(x, bytes) else x for x in res.as_numpy("label").reshape(-1)]
        assert labels == want_l, (what, labels, want_l)


@check
def errors_are_client_exceptions(ctx):
    s = ctx["tiny"]
    for client, mod in ((s.http, httpclient), (s.grpcc, grpcclient)):
        for model, version, text in (("nope", "", "unknown model"), ("tiny", "9", "no version")):
            try:
                client.infer(model, [text_input(mod, ["x"])], model_version=version)
            except InferenceServerException as e:
                assert text in str(e), str(e)
            else:
                raise AssertionError(f"{model}/{version} did not fail")
        try:
            # The client checks shapes itself; change it after the data is set.
            bad = mod.InferInput("text", [1], "BYTES")
            bad.set_data_from_numpy(np.array([b"a"], dtype=np.object_))
            bad.set_shape([3])
            client.infer("tiny", [bad])
        except InferenceServerException as e:
            assert "holds 3 elements" in str(e), str(e)
        else:
            raise AssertionError("shape mismatch did not fail")


def setup(binary, models):
    tiny = Server(binary, "tiny", os.path.join(models, "tiny"), ["--model_version_policy=all"])
    classifier = Server(binary, "sentiment", os.path.join(models, "tiny-classifier"))
    # "all" loads version 2 after version 1: wait for both.
    tiny.wait(lambda: tiny.http.is_model_ready("tiny", "2"), "serving version 2")
    return {"tiny": tiny, "classifier": classifier}, [tiny, classifier]


if __name__ == "__main__":
    sys.exit(run_main("tritonclient-conformance", check, setup))
