# Dockyard: `make up` starts the embedded default, `make test` proves it works.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
DATA_DIR ?= $(HOME)/.local/share/dockyard
HOST ?= 127.0.0.1
PORT ?= 8080
DEB_PACKAGES := git openssh-client curl jq skopeo umoci runc podman buildah busybox-static docker-registry uidmap fuse-overlayfs mmdebstrap chromium postgresql \
	qemu-user-static \
	containerd etcd-server containernetworking-plugins iproute2 iptables openssl gcc libc6-dev

.PHONY: install deps-system deps-python deps-k8s up test test-fast test-postgres lint bench clean

install: deps-system deps-python

# Debian packages that the tests and the builder drive; installed only when missing and root.
deps-system:
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else echo "warning: missing Debian packages:$$missing (run 'sudo make deps-system'); tests that need them are skipped"; fi; \
	fi

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

deps-python: $(VENV)/.installed

# The test Kubernetes (tests/k8s): built from the Go module proxy once per machine into
# $$DOCKYARD_TEST_CACHE or ~/.cache/dockyard-test (a cold build takes 9-18 minutes); a no-op when cached.
deps-k8s: deps-python
	$(PY) -m tests.k8s.build

up: install
	$(VENV)/bin/dockyard up --data-dir $(DATA_DIR) --host $(HOST) --port $(PORT)

test: install lint deps-k8s
	$(PY) -m pytest -q -p no:cacheprovider tests
	$(MAKE) --no-print-directory test-postgres

# The tutorial loop, the registry clients and the git/CI API tests again, with every server on a
# fresh database of a real PostgreSQL (tests/pgserver.py; tests/store runs both in the main suite).
PG_TESTS := tests/integration/test_tutorial_loop.py tests/registry/test_clients.py tests/registry/test_robots.py \
	tests/registry/test_members.py tests/registry/test_immutable.py tests/registry/test_retention.py \
	tests/git/test_api.py tests/git/test_protection.py tests/git/test_webhooks.py tests/ci/test_jenkins_api.py
test-postgres: deps-python
	DOCKYARD_TEST_DATABASE=postgresql $(PY) -m pytest -q -p no:cacheprovider $(PG_TESTS)

test-fast: deps-python
	$(PY) -m pytest -q -x -m "not slow" tests

lint: deps-python
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy

bench: install
	$(PY) bench/registry.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
