# TensorFlow pieces (issue 3: berth-serve runs SavedModels and speaks TF Serving); see
# docs/tensorflow.md.
#   make tf-setup   $(CACHE)/tf-venv (tensorflow-cpu 2.21.0 from the wheel cached in
#                   $(CACHE)/wheels, onnxruntime, tokenizers, tensorflow-serving-api) and
#                   $(CACHE)/tf/pkgconfig/tensorflow.pc + $(CACHE)/tf/lib for the Rust
#                   `tensorflow` crate (scripts/tf/setup-tensorflow.sh)
#   make tf-models  SavedModel repositories under $(CACHE)/models-tf ({tiny,tiny-classifier,
#                   minilm}/1), same weights as the ONNX models (scripts/tf/make-tf-models.sh)
#   make tf-check   SavedModel vs onnxruntime vs reference/*.json, max abs diff < 1e-4
#   make serve-tf-test  berth-serve's SavedModel backend tests alone (tests/tensorflow.rs);
#                   they are ignored by `make unit` and run in `make model-tests`
# Every step is stamped on its inputs' hash: warm runs take milliseconds (tf-check ~5 s).
#
# berth-serve links TensorFlow at run time (dlopen), so it builds without any of this and
# only needs TENSORFLOW_DIR when it runs a SavedModel ($(TF_RUN_ENV)). Building other Rust
# code that links the C API: $(TF_ENV) cargo ... (or source $(CACHE)/tf/env.sh):
# tensorflow-sys finds the wheel's C API through pkg-config.

export BERTH_MODELS_TF := $(CACHE)/models-tf
TF_PY := $(CACHE)/tf-venv/bin/python
# the absl/oneDNN notice TensorFlow prints at import whatever TF_CPP_MIN_LOG_LEVEL says
TF_NOISE := absl::InitializeLog\(\) is called|oneDNN custom operations are on
TF_ENV := PKG_CONFIG_PATH=$(CACHE)/tf/pkgconfig LD_LIBRARY_PATH=$(CACHE)/tf/lib \
  TENSORFLOW_DIR=$(CACHE)/tf/lib TF_CPP_MIN_LOG_LEVEL=2
# What running berth-serve's SavedModel backend needs (it dlopens the library); the build
# environment stays that of `make unit`, so nothing is rebuilt.
TF_RUN_ENV := TENSORFLOW_DIR=$(CACHE)/tf/lib TF_CPP_MIN_LOG_LEVEL=2

.PHONY: tf-setup tf-models tf-check serve-tf-test
tf-setup: ## the TensorFlow venv and C library (cached)
	@CACHE=$(CACHE) bash $(ROOT)/scripts/tf/setup-tensorflow.sh

tf-models: tf-setup ## SavedModel repositories under .cache/models-tf
	@CACHE=$(CACHE) bash $(ROOT)/scripts/tf/make-tf-models.sh

tf-check: tf-models models ## SavedModel vs onnxruntime vs the references
	@TF_CPP_MIN_LOG_LEVEL=2 $(TF_PY) $(ROOT)/scripts/tf/export_savedmodel.py check \
	  --tf $(CACHE)/models-tf --onnx $(CACHE)/models 2> >(grep -vE '$(TF_NOISE)' >&2)

# The workspace build `make unit` uses (--workspace: the same features), so nothing
# is rebuilt; the tests find .cache/tf/lib and .cache/models-tf themselves too.
serve-tf-test: tf-models models ## berth-serve's SavedModel tests alone
	$(TF_RUN_ENV) $(CARGO) test --workspace --locked --test tensorflow -- --ignored
