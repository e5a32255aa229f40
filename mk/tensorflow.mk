# TensorFlow pieces (issue 3: berth-serve runs SavedModels and speaks TF Serving).
# Not part of `make test` yet; see docs/tensorflow.md.
#   make tf-setup   $(CACHE)/tf-venv (tensorflow-cpu 2.21.0 from the wheel cached in
#                   $(CACHE)/wheels, onnxruntime, tokenizers, tensorflow-serving-api) and
#                   $(CACHE)/tf/pkgconfig/tensorflow.pc + $(CACHE)/tf/lib for the Rust
#                   `tensorflow` crate (scripts/tf/setup-tensorflow.sh)
#   make tf-models  SavedModel repositories under $(CACHE)/models-tf ({tiny,tiny-classifier,
#                   minilm}/1), same weights as the ONNX models (scripts/tf/make-tf-models.sh)
#   make tf-check   SavedModel vs onnxruntime vs reference/*.json, max abs diff < 1e-4
# Every step is stamped on its inputs' hash: warm runs take milliseconds (tf-check ~5 s).
#
# Building/running Rust code against TensorFlow: $(TF_ENV) cargo ... (or source
# $(CACHE)/tf/env.sh): tensorflow-sys finds the wheel's C API through pkg-config.

export BERTH_MODELS_TF := $(CACHE)/models-tf
TF_PY := $(CACHE)/tf-venv/bin/python
# the absl/oneDNN notice TensorFlow prints at import whatever TF_CPP_MIN_LOG_LEVEL says
TF_NOISE := absl::InitializeLog\(\) is called|oneDNN custom operations are on
TF_ENV := PKG_CONFIG_PATH=$(CACHE)/tf/pkgconfig LD_LIBRARY_PATH=$(CACHE)/tf/lib \
  TENSORFLOW_DIR=$(CACHE)/tf/lib TF_CPP_MIN_LOG_LEVEL=2

.PHONY: tf-setup tf-models tf-check
tf-setup:
	@CACHE=$(CACHE) bash $(ROOT)/scripts/tf/setup-tensorflow.sh

tf-models: tf-setup
	@CACHE=$(CACHE) bash $(ROOT)/scripts/tf/make-tf-models.sh

tf-check: tf-models models
	@TF_CPP_MIN_LOG_LEVEL=2 $(TF_PY) $(ROOT)/scripts/tf/export_savedmodel.py check \
	  --tf $(CACHE)/models-tf --onnx $(CACHE)/models 2> >(grep -vE '$(TF_NOISE)' >&2)
