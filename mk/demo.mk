# make demo: Berth end to end on this machine, from a fresh clone (see docs/demo.md).
# Included by the root Makefile (which defines ROOT, CACHE and CARGO).
#
#   make demo          build what is needed, start `berth local`, helm-install the operator,
#                      serve MiniLM, send requests, roll out v2, roll back a corrupt v3, stop
#   make demo KEEP=1   the same, but leave the cluster running at the end
#   make demo-down     stop a cluster left running by KEEP=1
# Other knobs (environment): PROFILE=release, DEMO_OPERATOR=process, DEMO_SKIP_BUILD=1,
# READY_TIMEOUT, ROLLOUT_TIMEOUT (seconds).

.PHONY: demo demo-down

demo: ## the walkthrough of docs/demo.md on berth-local
	@CACHE=$(CACHE) CARGO=$(CARGO) MAKE=$(MAKE) KEEP=$(KEEP) bash $(ROOT)/scripts/demo.sh

demo-down: ## stop the demo
	@CACHE=$(CACHE) bash $(ROOT)/scripts/demo.sh down
