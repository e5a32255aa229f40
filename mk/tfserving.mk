# berth-serve's TF Serving APIs (issue 3) with a third-party client.
#   make tfserving-conformance  the `tensorflow-serving-api` package's PredictionServiceStub and
#                               ModelServiceStub (Predict, GetModelMetadata, GetModelStatus,
#                               Classify) and the REST requests of TF Serving's documentation
#                               against the real binary, checked against reference/*.json
# The Rust side (tests/tfserving.rs: REST, tonic clients, and our protos against the real
# descriptors) runs in `make unit`.

.PHONY: tfserving-conformance
tfserving-conformance: tf-setup models serve-build ## TF Serving's own Python client against berth-serve
	@TF_CPP_MIN_LOG_LEVEL=2 $(TF_PY) $(ROOT)/crates/berth-serve/tests/py/tfserving_client.py \
	  --binary $(SERVE_BIN) --models $(BERTH_MODELS) 2> >(grep -vE '$(TF_NOISE)' >&2)

TEST_TARGETS += tfserving-conformance
