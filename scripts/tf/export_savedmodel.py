#!/usr/bin/env python3
"""Export Berth's test BERT models as TensorFlow SavedModels, from the same weights as the
ONNX models of scripts/build_bert_onnx.py (imported, not copied: its MiniLM safetensors
loading, seeded tiny weights, configs, tokenizer handling and numpy reference).

Each version dir (TF Serving layout, e.g. .cache/models-tf/tiny/1/) holds
  saved_model.pb, variables/, fingerprint.pb   the SavedModel, tag "serve"
  tokenizer.json, vocab.txt, config.json       byte-identical to the ONNX version's
  berth-manifest.json                          sha256 of every file (variables/* included)
with one signature, serving_default:
  inputs  input_ids, attention_mask, token_type_ids   int64 [batch, seq]   ([-1, -1])
  output  last_hidden_state                           float32 [batch, seq, hidden]
          (classifier: logits                         float32 [batch, num_labels])
computing exactly the ONNX graph's function (additive -10000 attention-mask bias, exact
erf GELU, LayerNorm eps from config.json, pooler tanh + linear head for the classifier).

Subcommands:
  repos --out DIR [--only tiny/1 ...]   write the SavedModels (default: tiny/1,
                                        tiny-classifier/1, minilm/1; tiny/2 on request);
                                        each is checked against the numpy reference
  check --tf DIR --onnx DIR             SavedModel (loaded back, serving_default) vs
                                        onnxruntime on the ONNX model and vs reference/*.json:
                                        mean-pooled embeddings / logits, max abs diff < 1e-4
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # scripts/
import build_bert_onnx as bb  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

DEFAULT_VERSIONS = ["tiny/1", "tiny-classifier/1", "minilm/1"]
KNOWN_VERSIONS = bb.ALL_VERSIONS  # tiny/1, tiny/2, tiny-classifier/1, minilm/1
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
SIGNATURE = "serving_default"
TOL = bb.TOL


def log(msg: str) -> None:
    print(f"export_savedmodel: {msg}", flush=True)


# --------------------------------------------------------------------------- model

class Bert(tf.Module):
    """The ONNX graph of build_bert_onnx.build_graph, as TensorFlow ops over tf.Variables."""

    def __init__(self, cfg: dict, w: dict[str, np.ndarray], num_labels: int, name: str):
        super().__init__(name=name)
        if cfg.get("hidden_act", "gelu") != "gelu":
            raise ValueError(f"hidden_act {cfg.get('hidden_act')} not supported (gelu only)")
        if cfg.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError("only absolute position embeddings are supported")
        self.H = int(cfg["hidden_size"])
        self.nh = int(cfg["num_attention_heads"])
        self.hd = self.H // self.nh
        self.layers = int(cfg["num_hidden_layers"])
        self.eps = float(cfg.get("layer_norm_eps", 1e-12))
        self.num_labels = num_labels
        keep = ("embeddings.", "encoder.") + (("pooler.", "classifier.") if num_labels else ())
        # HF key names ("encoder.layer.0.attention.self.query.weight") as variable names
        self.w = {k: tf.Variable(np.asarray(v, np.float32), trainable=False, name=k)
                  for k, v in sorted(w.items()) if k.startswith(keep)}
        spec = [tf.TensorSpec([None, None], tf.int64, name=n) for n in INPUTS]
        self.serve = tf.function(self._serve, input_signature=spec)

    def _lin(self, x, p):
        return tf.matmul(x, self.w[p + ".weight"], transpose_b=True) + self.w[p + ".bias"]

    def _ln(self, x, p):
        mu, var = tf.nn.moments(x, axes=[-1], keepdims=True)
        return (x - mu) * tf.math.rsqrt(var + self.eps) * self.w[p + ".weight"] + self.w[p + ".bias"]

    def _serve(self, input_ids, attention_mask, token_type_ids):
        B, S = tf.shape(input_ids)[0], tf.shape(input_ids)[1]
        w = self.w
        x = (tf.gather(w["embeddings.word_embeddings.weight"], input_ids)
             + tf.gather(w["embeddings.token_type_embeddings.weight"], token_type_ids)
             + tf.gather(w["embeddings.position_embeddings.weight"], tf.range(S))[None])
        x = self._ln(x, "embeddings.LayerNorm")
        bias = ((1.0 - tf.cast(attention_mask, tf.float32)) * bb.MASK_BIAS)[:, None, None, :]
        scale = 1.0 / math.sqrt(self.hd)

        def heads(t):
            return tf.transpose(tf.reshape(t, [B, S, self.nh, self.hd]), [0, 2, 1, 3])

        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            q, k, v = (heads(self._lin(x, p + "attention.self." + n)) for n in ("query", "key", "value"))
            probs = tf.nn.softmax(tf.matmul(q, k, transpose_b=True) * scale + bias, axis=-1)
            ctx = tf.reshape(tf.transpose(tf.matmul(probs, v), [0, 2, 1, 3]), [B, S, self.H])
            x = self._ln(self._lin(ctx, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
            h = self._lin(x, p + "intermediate.dense")
            g = 0.5 * h * (1.0 + tf.math.erf(h / math.sqrt(2.0)))  # exact GELU
            x = self._ln(self._lin(g, p + "output.dense") + x, p + "output.LayerNorm")
        if self.num_labels:
            pooled = tf.tanh(self._lin(x[:, 0], "pooler.dense"))
            return {"logits": tf.identity(self._lin(pooled, "classifier"), name="logits")}
        return {"last_hidden_state": tf.identity(x, name="last_hidden_state")}


# --------------------------------------------------------------------------- export

def hf_config_for(name: str, cfg: dict, nl: int) -> dict:
    """config.json exactly as build_bert_onnx.write_version writes it for this version."""
    if name.startswith("minilm/"):
        return {k: v for k, v in cfg.items() if k not in ("id2label", "label2id", "num_labels")}
    hf = bb.hf_config(cfg, nl)
    return {k: v for k, v in hf.items() if nl or k not in ("id2label", "label2id")}


def write_manifest(d: Path) -> None:
    files = {str(p.relative_to(d)): bb.sha256(p) for p in sorted(d.rglob("*"))
             if p.is_file() and p.name != "berth-manifest.json"}
    (d / "berth-manifest.json").write_text(json.dumps({"files": files}, indent=2) + "\n")


def same_content(a: Path, b: Path) -> bool:
    """Same files by manifest, fingerprint.pb aside (TensorFlow puts a random UUID in it;
    saved_model.pb and variables/ are byte-for-byte reproducible)."""
    def files(d: Path):
        f = d / "berth-manifest.json"
        if not f.is_file():
            return None
        m = json.loads(f.read_text())["files"]
        m.pop("fingerprint.pb", None)
        return m
    return a.is_dir() and files(a) is not None and files(a) == files(b)


def run_signature(fn, ids, mask, types) -> np.ndarray:
    out = fn(input_ids=tf.constant(ids, tf.int64), attention_mask=tf.constant(mask, tf.int64),
             token_type_ids=tf.constant(types, tf.int64))
    return next(iter(out.values())).numpy()


def check_against_numpy(d: Path, name: str, cfg: dict, w: dict, nl: int) -> float:
    """Load the written SavedModel back and compare with build_bert_onnx's numpy forward pass
    on a right-padded batch (the same check build_bert_onnx runs on the ONNX graphs)."""
    fn = tf.saved_model.load(str(d)).signatures[SIGNATURE]
    tok = bb.load_tokenizer(d / "tokenizer.json")
    _, ids, mask, types = bb.encode_batch(tok, bb.SENTENCES)
    got = run_signature(fn, ids, mask, types)
    want = bb.np_forward(cfg, w, ids, mask, types, nl)
    if nl:
        return float(np.abs(got - want).max())
    m = mask.astype(bool)
    return max(float(np.abs(got - want)[m].max()),
               float(np.abs(bb.mean_pool(got, mask) - bb.mean_pool(want, mask)).max()))


def export_version(out: Path, name: str) -> None:
    """Write one version dir atomically (temp dir + rename), like write_version does."""
    cfg, w, nl = bb.weights_for(name)
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    os.chmod(tmp, 0o755)
    try:
        model = Bert(cfg, w, nl, name="bert_" + name.replace("/", "_v").replace("-", "_"))
        tf.saved_model.save(model, str(tmp), signatures={SIGNATURE: model.serve})
        src = bb.minilm_dir()
        for f in ("tokenizer.json", "vocab.txt"):
            shutil.copyfile(src / f, tmp / f)
        (tmp / "config.json").write_text(json.dumps(hf_config_for(name, cfg, nl), indent=2) + "\n")
        for p in tmp.rglob("*"):
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
        diff = check_against_numpy(tmp, name, cfg, w, nl)
        if not diff < TOL:
            raise SystemExit(f"export_savedmodel: error: {name}: SavedModel vs numpy max abs diff "
                             f"{diff:.3e} >= {TOL}")
        write_manifest(tmp)
        if same_content(out, tmp):
            shutil.rmtree(tmp)  # already there: leave it untouched (a polling server sees no change)
            log(f"unchanged {out} (SavedModel vs numpy max abs diff {diff:.3e})")
            return
        if out.exists():
            shutil.rmtree(out)
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    log(f"wrote {out} ({size / 1e6:.1f} MB; SavedModel vs numpy max abs diff {diff:.3e})")


def cmd_repos(out: Path, only: list[str] | None) -> int:
    for n in only or DEFAULT_VERSIONS:
        if n not in KNOWN_VERSIONS:
            sys.exit(f"export_savedmodel: error: unknown model version {n}; known: {KNOWN_VERSIONS}")
        export_version(out / n, n)
    return 0


# --------------------------------------------------------------------------- check

def check_signature(fn, nl: int) -> list[str]:
    errs = []
    args, kwargs = fn.structured_input_signature
    for n in INPUTS:
        s = kwargs.get(n)
        if s is None or s.dtype != tf.int64 or s.shape.as_list() != [None, None]:
            errs.append(f"input {n}: {s} (want int64 [None, None])")
    outs = fn.structured_outputs
    want = "logits" if nl else "last_hidden_state"
    if list(outs) != [want] or outs[want].dtype != tf.float32:
        errs.append(f"outputs {outs} (want only float32 {want})")
    return errs


def cmd_check(tf_root: Path, onnx_root: Path) -> int:
    ok = True
    worst = 0.0
    for m in ("tiny", "tiny-classifier", "minilm"):
        d, od = tf_root / m / "1", onnx_root / m / "1"
        ref_path = onnx_root / "reference" / f"{m}.json"
        missing = [p for p in (d / "saved_model.pb", od / "model.onnx", ref_path) if not p.is_file()]
        if missing:
            log(f"check {m}: missing {', '.join(map(str, missing))} (run `make tf-models models`)")
            ok = False
            continue
        same = [f for f in ("tokenizer.json", "vocab.txt", "config.json")
                if (d / f).read_bytes() == (od / f).read_bytes()]
        if len(same) != 3:
            log(f"check {m}: tokenizer.json/vocab.txt/config.json differ from {od} (same: {same})")
            ok = False
        ref = json.loads(ref_path.read_text())
        clf = ref["task"] == "classification"
        nl = len(ref["id2label"]) if clf else 0
        fn = tf.saved_model.load(str(d)).signatures[SIGNATURE]
        errs = check_signature(fn, nl)
        for e in errs:
            log(f"check {m}: signature {SIGNATURE}: {e}")
        ok = ok and not errs
        sess = bb.ort_session(od / "model.onnx")
        items = ref["items"]

        def pooled(out, mask):
            return out.astype(np.float64) if clf else bb.mean_pool(out, mask)

        # (a) one sentence per request, unpadded: the reference file's setting
        d_ort = d_ref = 0.0
        for it in items:
            feed = {k: np.array([it[k]], np.int64) for k in INPUTS}
            t = pooled(run_signature(fn, *(feed[k] for k in INPUTS)), feed["attention_mask"])[0]
            o = pooled(sess.run(None, feed)[0], feed["attention_mask"])[0]
            r = np.array(it["logits" if clf else "embedding"])
            d_ort = max(d_ort, float(np.abs(t - o).max()))
            d_ref = max(d_ref, float(np.abs(t - r).max()))
        # (b) all sentences as one right-padded batch: what a batching server computes
        tok = bb.load_tokenizer(d / "tokenizer.json")
        _, ids, mask, types = bb.encode_batch(tok, [it["text"] for it in items])
        t = pooled(run_signature(fn, ids, mask, types), mask)
        o = pooled(sess.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})[0], mask)
        d_batch = float(np.abs(t - o).max())
        what = "logits" if clf else "mean-pooled embeddings"
        good = max(d_ort, d_ref, d_batch) < TOL
        worst = max(worst, d_ort, d_ref, d_batch)
        log(f"check {m}: {what}, SavedModel vs onnxruntime: {d_ort:.3e} (batch of one), "
            f"{d_batch:.3e} (padded batch of {len(items)}); vs reference/{m}.json: {d_ref:.3e} "
            f"({'ok' if good else 'FAIL'}, tol {TOL})")
        ok = ok and good
    print(f"tf-check: {'ok' if ok else 'FAILED'} (worst max abs diff {worst:.3e}, tol {TOL})")
    return 0 if ok else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("repos")
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--only", nargs="*", help=f"subset of {KNOWN_VERSIONS}")
    c = sub.add_parser("check")
    c.add_argument("--tf", type=Path, required=True, help="SavedModel repos (.cache/models-tf)")
    c.add_argument("--onnx", type=Path, required=True, help="ONNX repos (.cache/models)")
    a = ap.parse_args()
    if a.cmd == "repos":
        return cmd_repos(a.out, a.only)
    return cmd_check(a.tf, a.onnx)


if __name__ == "__main__":
    sys.exit(main())
