# Two entry points on a fresh machine: `make demo` and `make test`.
# Both create or update .venv idempotently. torch==2.13.0 is installed first when torch is absent, so that
# pip resolves the project's torch range against it instead of pulling a multi-GB CUDA build.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.pixwizard-installed

.PHONY: test demo lint clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[dev,train,eval]"
	touch $(STAMP)

# pytest's own exit status is kept in $(VENV)/.pytest-status, because make turns every failure into 2
# and .ci/run must tell "no test collected" (5) apart.
test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS); status=$$?; echo $$status > $(VENV)/.pytest-status; exit $$status

demo: $(STAMP)
	$(PY) -m pixwizard.demo

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

clean:
	rm -rf build dist *.egg-info .pytest_cache .ruff_cache
