# Everything is set up from scratch by these targets: only Python 3 and make are needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
SCHEMAS := $(wildcard integration_schemas/*.json)
DEMO_OUT := demo_out

.PHONY: help install test demo regen check-examples bench clean

help:
	@echo "make demo   - set up, generate the example packages and show one"
	@echo "make test   - set up and run every test (tool, generated packages, quality gates)"
	@echo "make regen  - regenerate the golden records in generated_examples/"
	@echo "make bench  - run the benchmarks (installs the benchmark-only extras)"

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(INSTALLED)

install: $(INSTALLED)

test: $(INSTALLED)
	$(BIN)/python -m pytest -q

demo: $(INSTALLED)
	$(BIN)/enrichgen validate $(SCHEMAS)
	$(BIN)/enrichgen generate $(SCHEMAS) --out $(DEMO_OUT)
	@echo
	@echo "== $(DEMO_OUT)/call_tracking_enrichment/"
	@ls -1 $(DEMO_OUT)/call_tracking_enrichment
	@echo
	@echo "== $(DEMO_OUT)/call_tracking_enrichment/models.py"
	@cat $(DEMO_OUT)/call_tracking_enrichment/models.py
	@echo
	@echo "== the package's own tests"
	cd $(DEMO_OUT) && ../$(BIN)/python -m pytest -q -p no:cacheprovider call_tracking_enrichment
	$(BIN)/enrichgen generate $(SCHEMAS) --out $(DEMO_OUT) --check

regen: $(INSTALLED)
	$(BIN)/enrichgen generate $(SCHEMAS) --out generated_examples

bench: $(INSTALLED)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python benchmarks/generate_speed.py
	$(BIN)/python benchmarks/send_throughput.py

clean:
	rm -rf $(VENV) $(DEMO_OUT) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
