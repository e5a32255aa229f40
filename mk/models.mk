# Models and the ONNX Runtime library for berth-serve and its tests.
#   make venv          Python virtualenv at $(CACHE)/venv (pinned: scripts/requirements-*.txt)
#   make ort           $(CACHE)/ort/libonnxruntime.so from the PyPI onnxruntime wheel
#   make models        venv + ort + model repositories under $(CACHE)/models (see
#                      scripts/make_model_repos.sh); a second run is a no-op
#   make models-check  numpy-vs-onnxruntime check of every model, MiniLM paraphrase
#                      ranking, reference files up to date (part of `make test`)
# Every step is stamped on its inputs' hash, so warm runs take well under a second.

export ORT_DYLIB_PATH := $(CACHE)/ort/libonnxruntime.so
export BERTH_MODELS := $(CACHE)/models
MODELS_PY := $(CACHE)/venv/bin/python

.PHONY: venv ort models models-check
venv: ## the Python virtualenv for models and conformance clients
	@CACHE=$(CACHE) bash $(ROOT)/scripts/setup-python.sh

ort: ## ONNX Runtime from the PyPI wheel into .cache/ort
	@CACHE=$(CACHE) bash $(ROOT)/scripts/fetch-ort.sh

models: venv ort ## the Python venv, ONNX Runtime and the model repositories (cached)
	@CACHE=$(CACHE) bash $(ROOT)/scripts/make_model_repos.sh

models-check: models ## numpy vs onnxruntime on every model, MiniLM ranking, references up to date
	@$(MODELS_PY) $(ROOT)/scripts/build_bert_onnx.py check --models $(CACHE)/models

TEST_TARGETS += models-check

# int8 builds (scripts/quantize_int8.py: ONNX Runtime dynamic quantization, int8 weights
# per channel; fails below a mean cosine of 0.98 to the source): MiniLM's, served as a
# canary of its fp32 source by the quality-gate e2e test.
MODELS_INT8 := $(CACHE)/models/minilm-int8/1
.PHONY: models-int8
models-int8: models ## int8 builds of the models (ONNX Runtime dynamic quantization), checked against fp32
	@stamp=$(MODELS_INT8)/../.stamp-$$(cat $(ROOT)/scripts/quantize_int8.py $(CACHE)/models/minilm/1/model.onnx | sha256sum | cut -c1-16); \
	if [ ! -f $$stamp ] || [ ! -f $(MODELS_INT8)/model.onnx ]; then rm -f $(MODELS_INT8)/../.stamp-*; \
	  $(MODELS_PY) $(ROOT)/scripts/quantize_int8.py --src $(CACHE)/models/minilm/1 --out $(MODELS_INT8) \
	  2> >(grep -v 'pre-processing before quantization' >&2) && touch $$stamp; fi
