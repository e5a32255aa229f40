#!/usr/bin/env python3
"""Versions of the tiny model that load fine and then misbehave, for the operator's
end-to-end rollback tests. Each one fails the way real broken releases do, inside
ONNX Runtime, so the whole path (pod -> /metrics -> analysis -> rollback) is real:

  errors/  the word-embedding table is cut to its first 1001 rows, like an export
           whose vocabulary does not match its tokenizer: warm-up (token 1000) runs,
           ordinary words (ids above 1000) fail inside ONNX Runtime, so requests
           answer 500.
  slow/    a chain of 1024x1024 matrix products that depends on the input (so it
           cannot be constant-folded) and adds zero to the output: same answers as
           the source model, a few hundred milliseconds per request.
  perturbed/  every weight matrix plus seeded Gaussian noise (PERTURB_SCALE of its own
           standard deviation), like a retraining that drifted: as fast, no errors,
           answers whose mean cosine similarity to the source's is about 0.95,
           what the quality gate (analysis.minAgreement) is there to catch.
  swapped-labels/  (with --classifier-src) the tiny classifier with its id2label
           names reversed, like a retraining that exported its label map in another
           order: same graph, same speed, every top label wrong, what a golden set
           (spec.rollout.goldenSet) is there to catch before it answers anyone.

Usage: build_fault_models.py --src .cache/models/tiny/2 --out .cache/models/faults
           [--classifier-src .cache/models/tiny-classifier/1]
The outputs carry no sha256 manifest (their model.onnx differs from the source's).
"""

import argparse
import json
import os
import shutil
import sys
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

WORD_EMBEDDINGS = "embeddings.word_embeddings.weight"
KEPT_VOCAB_ROWS = 1001
PERTURB_SCALE = 0.15
PERTURB_SEED = 7
SLOW_SIZE = 1024
SLOW_PRODUCTS = 6


def cut_vocabulary(model: onnx.ModelProto) -> None:
    for init in model.graph.initializer:
        if init.name == WORD_EMBEDDINGS:
            table = numpy_helper.to_array(init)
            init.CopyFrom(numpy_helper.from_array(table[:KEPT_VOCAB_ROWS].copy(), WORD_EMBEDDINGS))
            return
    sys.exit(f"build_fault_models: no initializer {WORD_EMBEDDINGS}")


def add_slow_branch(model: onnx.ModelProto) -> None:
    graph = model.graph
    out = graph.output[0].name
    inner = out + "_before_slow_branch"
    for node in graph.node:
        node.output[:] = [inner if o == out else o for o in node.output]
    weight = np.full((SLOW_SIZE, SLOW_SIZE), 1.0 / SLOW_SIZE, dtype=np.float32)
    graph.initializer.extend(
        [
            numpy_helper.from_array(weight, "slow_weight"),
            numpy_helper.from_array(np.array([SLOW_SIZE, SLOW_SIZE], dtype=np.int64), "slow_shape"),
            numpy_helper.from_array(np.array(0.0, dtype=np.float32), "slow_zero"),
        ]
    )
    nodes = [
        helper.make_node("Cast", ["attention_mask"], ["slow_mask"], to=TensorProto.FLOAT),
        helper.make_node("ReduceMax", ["slow_mask"], ["slow_scalar"], keepdims=0),
        helper.make_node("Expand", ["slow_scalar", "slow_shape"], ["slow_0"]),
    ]
    for i in range(SLOW_PRODUCTS):
        nodes.append(helper.make_node("MatMul", [f"slow_{i}", "slow_weight"], [f"slow_{i + 1}"]))
    nodes += [
        helper.make_node("ReduceSum", [f"slow_{SLOW_PRODUCTS}"], ["slow_sum"], keepdims=0),
        helper.make_node("Mul", ["slow_sum", "slow_zero"], ["slow_nothing"]),
        helper.make_node("Add", [inner, "slow_nothing"], [out]),
    ]
    graph.node.extend(nodes)


def perturb_weights(model: onnx.ModelProto) -> None:
    rng = np.random.default_rng(PERTURB_SEED)
    for init in model.graph.initializer:
        w = numpy_helper.to_array(init)
        if w.dtype != np.float32 or w.ndim < 2:
            continue
        noisy = w + rng.normal(0.0, PERTURB_SCALE * float(w.std()), size=w.shape).astype(np.float32)
        init.CopyFrom(numpy_helper.from_array(noisy.astype(np.float32), init.name))


def build(src: str, out: str, name: str, change) -> None:
    model = onnx.load(os.path.join(src, "model.onnx"))
    change(model)
    onnx.checker.check_model(model)
    tmp = tempfile.mkdtemp(dir=out, prefix=f".{name}-")
    for f in os.listdir(src):
        if f not in ("model.onnx", "berth-manifest.json"):
            shutil.copy(os.path.join(src, f), tmp)
    onnx.save(model, os.path.join(tmp, "model.onnx"))
    final = os.path.join(out, name)
    shutil.rmtree(final, ignore_errors=True)
    os.rename(tmp, final)


def build_swapped_labels(src: str, out: str) -> None:
    tmp = tempfile.mkdtemp(dir=out, prefix=".swapped-labels-")
    for f in os.listdir(src):
        if f not in ("config.json", "berth-manifest.json"):
            shutil.copy(os.path.join(src, f), tmp)
    with open(os.path.join(src, "config.json")) as f:
        config = json.load(f)
    names = [config["id2label"][str(i)] for i in range(len(config["id2label"]))]
    if len(set(names)) < 2:
        sys.exit(f"build_fault_models: {src} has fewer than two distinct labels to swap")
    names.reverse()
    config["id2label"] = {str(i): n for i, n in enumerate(names)}
    config["label2id"] = {n: i for i, n in enumerate(names)}
    with open(os.path.join(tmp, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    final = os.path.join(out, "swapped-labels")
    shutil.rmtree(final, ignore_errors=True)
    os.rename(tmp, final)
    print(f"build_fault_models: swapped-labels/ names its classes {names}")


def mean_pooled(session, feed) -> np.ndarray:
    hidden = session.run(None, feed)[0]
    mask = feed["attention_mask"][..., None].astype(np.float32)
    return (hidden * mask).sum(axis=1) / mask.sum(axis=1)


def check(src: str, out: str) -> None:
    """The faults are real: onnxruntime itself fails / is slow on ordinary input."""
    import time

    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    feed = {n: np.array([[101, 1037, 2986, 2154, 102]], dtype=np.int64) for n in ("input_ids", "token_type_ids")}
    feed["token_type_ids"][:] = 0
    feed["attention_mask"] = np.ones((1, 5), dtype=np.int64)
    errors = ort.InferenceSession(os.path.join(out, "errors", "model.onnx"), opts)
    warm = {k: v.copy() for k, v in feed.items()}
    warm["input_ids"][:] = KEPT_VOCAB_ROWS - 1
    errors.run(None, warm)
    try:
        errors.run(None, feed)
        sys.exit("build_fault_models: errors/ answered an out-of-vocabulary id")
    except Exception as e:  # onnxruntime raises its own exception types
        print(f"build_fault_models: errors/ fails as intended: {str(e).splitlines()[0][:120]}")
    slow = ort.InferenceSession(os.path.join(out, "slow", "model.onnx"), opts)
    start = time.perf_counter()
    slow.run(None, feed)
    print(f"build_fault_models: slow/ takes {1000 * (time.perf_counter() - start):.0f} ms per request")
    source = ort.InferenceSession(os.path.join(src, "model.onnx"), opts)
    perturbed = ort.InferenceSession(os.path.join(out, "perturbed", "model.onnx"), opts)
    rng = np.random.default_rng(1)
    ids = rng.integers(1000, 20000, size=(16, 12)).astype(np.int64)
    ids[:, 0], ids[:, -1] = 101, 102
    batch = {"input_ids": ids, "token_type_ids": np.zeros_like(ids), "attention_mask": np.ones_like(ids)}
    a, b = mean_pooled(source, batch), mean_pooled(perturbed, batch)
    cos = (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    print(f"build_fault_models: perturbed/ agrees with the source at mean cosine {cos.mean():.4f} (min {cos.min():.4f})")
    if not 0.85 <= cos.mean() <= 0.985:
        sys.exit(f"build_fault_models: perturbed/ mean cosine {cos.mean():.4f} is outside 0.85-0.985: retune PERTURB_SCALE")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--src", required=True, help="a version directory of the tiny model")
    p.add_argument("--out", required=True)
    p.add_argument("--classifier-src", help="a version directory of the tiny classifier (builds swapped-labels/)")
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    build(a.src, a.out, "errors", cut_vocabulary)
    build(a.src, a.out, "slow", add_slow_branch)
    build(a.src, a.out, "perturbed", perturb_weights)
    check(a.src, a.out)
    if a.classifier_src:
        build_swapped_labels(a.classifier_src, a.out)


if __name__ == "__main__":
    main()
