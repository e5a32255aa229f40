# berth-serve: the inference server (crates/berth-serve).
#   make serve-build        build the berth-serve binary
#   make serve-test         its Rust tests (unit + real binary over REST/gRPC) and the
#                           tritonclient conformance run
#   make serve-conformance  NVIDIA tritonclient (HTTP + gRPC) against the real binary
#   make serve-s3-source    versions from an S3 bucket (moto), see tests/py/s3_source.py
#   make serve-clients      openai and huggingface_hub against the TEI and OpenAI routes
# The Rust integration tests that need the models are ignored by `make unit` and run
# in `make model-tests`.

SERVE_BIN := $(ROOT)/target/debug/berth-serve

.PHONY: serve-build serve-test serve-conformance
serve-build: ## build every binary and test once
	$(BUILD_ALL)

serve-test: models ## berth-serve's tests and the tritonclient conformance run
	$(CARGO) test --locked -p berth-serve -- --include-ignored
	$(MAKE) --no-print-directory serve-conformance

serve-conformance: models serve-build ## NVIDIA tritonclient (HTTP + gRPC) against the real berth-serve
	$(MODELS_PY) $(ROOT)/crates/berth-serve/tests/py/conformance.py --binary $(SERVE_BIN) --models $(BERTH_MODELS)

# Versions from an object store: moto's S3 server (signature checks on), boto3 uploads.
.PHONY: serve-s3-source
serve-s3-source: models serve-build ## versions from an S3 bucket (moto) served by berth-serve
	$(MODELS_PY) $(ROOT)/crates/berth-serve/tests/py/s3_source.py --binary $(SERVE_BIN) --models $(BERTH_MODELS)

# The TEI and OpenAI routes through their own clients: openai's embeddings.create,
# huggingface_hub's InferenceClient, against ONNX Runtime run in Python.
.PHONY: serve-clients
serve-clients: models serve-build ## openai and huggingface_hub clients against berth-serve's TEI and OpenAI routes
	$(MODELS_PY) $(ROOT)/crates/berth-serve/tests/py/clients.py --binary $(SERVE_BIN) --models $(BERTH_MODELS)

TEST_TARGETS += serve-conformance serve-s3-source serve-clients

# make bench: berth-serve vs raw onnxruntime vs the KServe Python server (MiniLM,
# concurrency 1/4/16, 128-token and short texts). BENCH_SECONDS per point (default 5).
.PHONY: serve-bench
serve-bench: models models-int8 ## berth-serve (fp32 and its int8 build) vs raw onnxruntime vs KServe (MiniLM)
	@CACHE=$(CACHE) bash $(ROOT)/crates/berth-serve/benches/setup-kserve.sh
	$(CARGO) bench --locked -p berth-serve --bench serve

BENCH_TARGETS += serve-bench

# make bench: the client's p50/p99 with `mirror: 100` against none, at half of
# saturation and at saturation, on one running server (MiniLM; copies compared and
# dropped per second). Writes target/bench/mirror.md.
.PHONY: serve-mirror-bench
serve-mirror-bench: models ## what mirroring a canary costs the clients (MiniLM, open loop)
	$(CARGO) bench --locked -p berth-serve --bench mirror

BENCH_TARGETS += serve-mirror-bench
