# kubectl harness-rollback: every target a developer or CI needs. `make test` is the README's test command.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
VERSION := $(shell sed -n 's/^__version__ = "\(.*\)"/\1/p' kubectl_rollback/__init__.py)
DIST := dist
# The Kubernetes server the cluster tests run against: 1.35 (what users run) or 1.20 (the oldest supported).
K8S ?= $(or $(KHR_K8S_VERSION),1.35)
export KHR_K8S_VERSION := $(K8S)

.PHONY: install testenv test cluster-tests unit lint cluster flake-check demo bench dist lock clean

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# compat: the checkout on sys.path through a plain .pth line, not setuptools' import-hook finder, whose own
	# imports (pathlib, importlib.util, ...) cost every run of the plugin more than Python's own start-up.
	$(PY) -m pip install --quiet --disable-pip-version-check --config-settings editable_mode=compat -e '.[test,oidc]'
	touch $@

install: $(VENV)/.installed  ## the plugin and its test tools in .venv (kubectl finds .venv/bin/kubectl-harness_rollback)

testenv:  ## build etcd, kube-apiserver, kube-controller-manager, kubectl and helm for K8S, unpack prometheus, into the cache (once)
	bash tests/cluster/build.sh
	bash tests/cluster/prometheus.sh

test: install testenv lint  ## lint, unit tests and the real-cluster tests (on K8S, default 1.35; make test K8S=1.20)
	CI=$${CI:-} $(PY) -m pytest

cluster-tests: install testenv  ## only the real-cluster tests, on K8S (CI's second leg)
	CI=$${CI:-} $(PY) -m pytest -m cluster

unit: install  ## the fast tests only (no cluster)
	$(PY) -m pytest tests/unit

lint: install  ## ruff, and mypy on the plugin (types checked, config in pyproject.toml)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

RUNS ?= 5
flake-check: install testenv  ## the cluster tests RUNS times in a row (default 5), each failure named with its run
	$(PY) -m tests.flake_check --runs $(RUNS) $(FLAKE_ARGS)

cluster: install testenv  ## a control plane in the foreground, for trying things by hand
	$(PY) -m tests.cluster

demo: install testenv  ## record, history, a failed deployment and its rollback, on a local control plane
	$(PY) -m tests.cluster.demo $(DEMO_ARGS)

bench: install testenv  ## the plugin against kubectl, side by side; writes docs/benchmarks.md
	$(PY) benchmarks/run.py

dist: install  ## the krew archive from packaging/requirements.lock, and its sha256 in plugin-manifest.yaml
	$(PY) packaging/build_dist.py --out $(DIST)

lock: install  ## resolve setup.cfg's install_requires afresh into packaging/requirements.lock (then make dist)
	$(PY) packaging/build_dist.py --lock

clean:
	rm -rf $(VENV) $(DIST) build *.egg-info .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
