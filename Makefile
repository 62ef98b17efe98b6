# The two commands (see README.md):
#   make demo   deploy the example model on the `local` stack and show a prediction
#               (STACK=prodlike or STACK=k8s: the production-shaped or the Kubernetes stack)
#   make test   run every test, on the real engine and services
# Both install and start what they need first.
SHELL := /bin/bash
ENV := eval "$$(scripts/env)"

.PHONY: setup services demo test test-unit validate bench stop status

setup:
	@scripts/setup

services:
	@scripts/services start

status:
	@scripts/services status

stop:
	@scripts/services stop

demo: setup
	@$(ENV) && scripts/demo

# Every test, the Kubernetes ones too: setup with the cluster's builds (cached) first.
test:
	@scripts/setup --k8s
	@$(ENV) && scripts/run_tests

# The fast layer alone: pure units and Pulumi mocks, no services.
test-unit:
	@$(ENV) && python -m pytest -q -m "not integration"

validate:
	@$(ENV) && maas validate
