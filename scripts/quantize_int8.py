#!/usr/bin/env python3
"""An int8 version of any ONNX version directory, with ONNX Runtime's dynamic
quantization (weights int8, per output channel; activations quantized at run time):
what berth-serve serves as any other version, e.g. as the canary of its fp32 source.

  quantize_int8.py --src .cache/models/minilm/1 --out .cache/models/minilm-int8/1

The output directory gets the quantized model.onnx, the source's other files, and a
berth-manifest.json with the files' sha256 sums and a "quantized" record: the method
and the sha256 of the model.onnx it was made from. It then reports how close the int8
answers are to the source's (mean pooled, cosine similarity, on a fixed sentence set)
and fails below --min-cosine, so a quantization that drifted never becomes a version.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile

import numpy as np
import onnxruntime as ort
from onnxruntime.quantization import QuantType, quantize_dynamic
from tokenizers import Tokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from build_bert_onnx import sha256  # noqa: E402  (the one sha256 of the model scripts)

SENTENCES = [
    "A man is playing a guitar.",
    "The new movie is awesome.",
    "The cat sits outside.",
    "A woman watches TV.",
    "The new movie is so great.",
    "Do you like pizza?",
    "Stocks fell sharply after the announcement of the interest rate decision.",
    "She walked to the station in the rain, thinking about the letter she had not sent.",
    "Quantum computers use qubits.",
    "How do I reset my password?",
    "The committee approved the budget for next year without any changes.",
    "I'd like two tickets for the evening show, please.",
]


def embed(model: str, tokenizer: Tokenizer) -> np.ndarray:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    session = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
    names = {i.name for i in session.get_inputs()}
    rows = []
    for text in SENTENCES:
        enc = tokenizer.encode(text)
        feed = {"input_ids": np.array([enc.ids], dtype=np.int64),
                "attention_mask": np.array([enc.attention_mask], dtype=np.int64)}
        if "token_type_ids" in names:
            feed["token_type_ids"] = np.array([enc.type_ids], dtype=np.int64)
        out = session.run(None, feed)[0]
        if out.ndim == 3:  # last_hidden_state: mean pooled, as berth-serve does
            mask = feed["attention_mask"][..., None].astype(np.float32)
            out = (out * mask).sum(axis=1) / mask.sum(axis=1)
        rows.append(out[0])
    return np.stack(rows)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--src", required=True, help="an ONNX version directory (model.onnx, tokenizer.json, ...)")
    p.add_argument("--out", required=True, help="the version directory to write")
    p.add_argument("--min-cosine", type=float, default=0.98, help="fail below this mean cosine to the source")
    a = p.parse_args()
    src_model = os.path.join(a.src, "model.onnx")
    if not os.path.isfile(src_model):
        sys.exit(f"quantize_int8: {src_model} is missing")
    parent = os.path.dirname(os.path.abspath(a.out))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".int8-", dir=parent)
    os.chmod(tmp, 0o755)
    try:
        for f in os.listdir(a.src):
            if f not in ("model.onnx", "berth-manifest.json") and os.path.isfile(os.path.join(a.src, f)):
                shutil.copy(os.path.join(a.src, f), tmp)
        quantize_dynamic(src_model, os.path.join(tmp, "model.onnx"), weight_type=QuantType.QInt8, per_channel=True)
        tokenizer = Tokenizer.from_file(os.path.join(a.src, "tokenizer.json"))
        fp32, int8 = embed(src_model, tokenizer), embed(os.path.join(tmp, "model.onnx"), tokenizer)
        cos = (fp32 * int8).sum(axis=1) / (np.linalg.norm(fp32, axis=1) * np.linalg.norm(int8, axis=1))
        print(f"quantize_int8: {a.out}: int8 vs fp32 mean cosine {cos.mean():.4f} (min {cos.min():.4f}) "
              f"over {len(SENTENCES)} sentences; model.onnx {os.path.getsize(src_model) / 1e6:.1f} MB -> "
              f"{os.path.getsize(os.path.join(tmp, 'model.onnx')) / 1e6:.1f} MB")
        if cos.mean() < a.min_cosine:
            sys.exit(f"quantize_int8: mean cosine {cos.mean():.4f} is below --min-cosine {a.min_cosine}")
        files = {f: sha256(os.path.join(tmp, f)) for f in sorted(os.listdir(tmp))}
        manifest = {"files": files, "quantized": {"method": "onnxruntime dynamic quantization",
                                                  "weights": "int8, per channel",
                                                  "source_model_sha256": sha256(src_model)}}
        with open(os.path.join(tmp, "berth-manifest.json"), "w") as f:
            json.dump(manifest, f, indent=2)
            f.write("\n")
        shutil.rmtree(a.out, ignore_errors=True)
        os.rename(tmp, a.out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
