#!/usr/bin/env bash
# Export Berth's test BERT models as TensorFlow SavedModels under $CACHE/models-tf:
#   tiny/1/, tiny-classifier/1/, minilm/1/   (same weights as $CACHE/models/*/1/model.onnx)
# with scripts/tf/export_savedmodel.py in the TensorFlow venv (scripts/tf/setup-tensorflow.sh).
# Every SavedModel is loaded back and checked against build_bert_onnx.py's numpy forward pass.
# Idempotent: a stamp keyed on the inputs' hash makes a second run instant.
#
# Env: CACHE (default <repo>/.cache).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CACHE="${CACHE:-$ROOT/.cache}"
OUT="$CACHE/models-tf"
PY="$CACHE/tf-venv/bin/python"
EXPECTED=(tiny/1 tiny-classifier/1 minilm/1)
TF_NOISE='absl::InitializeLog\(\) is called|oneDNN custom operations are on'

die() { echo "make-tf-models: error: $*" >&2; exit 1; }

HASH="$(cat "$HERE/export_savedmodel.py" "$HERE/make-tf-models.sh" "$HERE/requirements-tf.txt" \
          "$HERE/requirements-tf-nodeps.txt" "$ROOT/scripts/build_bert_onnx.py" | sha256sum | cut -c1-16)"
STAMP="$OUT/.stamp-$HASH"
complete() {
  local v f
  for v in "${EXPECTED[@]}"; do
    for f in saved_model.pb variables/variables.index tokenizer.json vocab.txt config.json \
             berth-manifest.json; do
      [[ -f "$OUT/$v/$f" ]] || return 1
    done
  done
}
if [[ -f "$STAMP" ]] && complete; then
  exit 0
fi
bash "$HERE/setup-tensorflow.sh"
mkdir -p "$OUT"
rm -f "$OUT"/.stamp-*
echo "make-tf-models: exporting SavedModels under $OUT"
# (drop the absl/oneDNN notice TensorFlow prints at import whatever TF_CPP_MIN_LOG_LEVEL says)
TF_CPP_MIN_LOG_LEVEL=2 "$PY" "$HERE/export_savedmodel.py" repos --out "$OUT" --only "${EXPECTED[@]}" \
  2> >(grep -vE "$TF_NOISE" >&2) || die "exporting the SavedModels failed"
complete || die "SavedModel repositories under $OUT are incomplete after the export"
touch "$STAMP"
echo "make-tf-models: done ($OUT)"
