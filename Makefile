# Everything is set up from scratch by these targets: only Python 3 and make are needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
TEST_INSTALLED := $(VENV)/.installed-test
# One package per example schema; <name>_v<N>.json is a later version of <name>.json and goes
# with it into one package holding both versions (VERSIONED_PACKAGE).
LATER_VERSIONS := $(wildcard integration_schemas/*_v[0-9]*.json)
SCHEMAS := $(filter-out $(LATER_VERSIONS),$(wildcard integration_schemas/*.json))
VERSIONED_SCHEMAS := integration_schemas/call_tracking.json integration_schemas/call_tracking_v2.json
VERSIONED_PACKAGE := call_tracking_versions_enrichment

.PHONY: help install test demo regen bench oldest clean

help:
	@echo "make demo   - set up, generate a client, send a sample file to the local sandbox"
	@echo "make test   - set up and run every test (tool, generated packages, quality gates)"
	@echo "make regen  - regenerate the golden records and the reference modules in templates/runtime"
	@echo "make bench  - run the benchmarks (installs the benchmark-only extras)"
	@echo "make oldest - run the golden packages' own tests with the oldest pydantic and httpx they claim"
	@echo "make install - only set up .venv with the test tools (make test does it first)"
	@echo "make clean  - remove .venv, the demo's output and caches"

# The demo needs only the tool; the tests add pytest, hypothesis, ruff and mypy.
$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(INSTALLED)

$(TEST_INSTALLED): $(INSTALLED)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(TEST_INSTALLED)

install: $(TEST_INSTALLED)

test: $(TEST_INSTALLED)
	$(BIN)/python -m pytest -q

demo: $(INSTALLED)
	$(BIN)/python demo/run.py

regen: $(INSTALLED)
	$(BIN)/enrichgen generate $(SCHEMAS) --out generated_examples
	$(BIN)/enrichgen generate $(VERSIONED_SCHEMAS) --out generated_examples --package $(VERSIONED_PACKAGE)
	$(BIN)/python -m generator.reference

bench: $(TEST_INSTALLED)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python benchmarks/generate_speed.py
	$(BIN)/python benchmarks/send_throughput.py
	$(BIN)/python benchmarks/cost_breakdown.py
	$(BIN)/python benchmarks/delivery.py
	$(BIN)/python benchmarks/sandbox_keep_alive.py

# The oldest versions the generated packages claim (their README.md and __init__ docstring,
# generator.render.PACKAGE_REQUIREMENTS), in a throwaway environment of their own.
OLDEST := .venv-oldest
oldest:
	rm -rf $(OLDEST)
	$(PYTHON) -m venv $(OLDEST)
	$(OLDEST)/bin/python -m pip install --quiet 'pydantic==2.6.0' 'httpx==0.25.0' pytest hypothesis
	cd generated_examples && for package in */; do \
		../$(OLDEST)/bin/python -m pytest -q -p no:cacheprovider "$$package" || exit 1; done

clean:
	rm -rf $(VENV) $(OLDEST) demo_out build *.egg-info .pytest_cache .mypy_cache .ruff_cache
