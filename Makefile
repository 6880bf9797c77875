# `make demo`: set everything up and run plan + apply + plan on the embedded sandbox.
# `make test`: set everything up and run the whole test suite (lint, types, tests).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO := examples/quickstart
REGISTRATION := examples/registration

.PHONY: demo test lint typecheck fidelity schema bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	rm -rf $(DEMO)/.reconciler
	$(BIN)/reconciler validate $(DEMO)
	$(BIN)/reconciler plan $(DEMO)
	$(BIN)/reconciler apply $(DEMO) --auto-approve
	$(BIN)/reconciler plan $(DEMO) --detailed-exitcode
	rm -rf $(REGISTRATION)/.reconciler
	$(BIN)/reconciler validate $(REGISTRATION)
	$(BIN)/reconciler plan $(REGISTRATION)
	$(BIN)/reconciler apply $(REGISTRATION) --auto-approve --report $(REGISTRATION)/.reconciler/report.json
	$(BIN)/reconciler plan $(REGISTRATION) --detailed-exitcode

lint: $(STAMP)
	$(BIN)/ruff check reconciler tests benchmarks
	$(BIN)/ruff format --check reconciler tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest -q

# Re-run the wire-fidelity suites. With ENCORD_VERSION=X, against that release of the official SDK in a venv
# of its own (.venv/fidelity/X, built or reused; the main .venv is left alone). tests/fidelity/README.md;
# tests/fidelity/sweep.py tries a range of releases.
ifeq ($(strip $(ENCORD_VERSION)),)
fidelity: $(STAMP)
	$(BIN)/pytest -q tests/fidelity tests/client/test_sdk_parity.py
else
fidelity:
	$(PYTHON) tests/fidelity/sweep.py --run '$(strip $(ENCORD_VERSION))'
endif

# Speed and memory on the sandbox (prints numbers; not part of `make test`).
bench: $(STAMP)
	$(BIN)/python benchmarks/sandbox_scale.py --folders 100 --items 20000
	$(BIN)/python benchmarks/registration.py --sizes 100000 --apply-size 20000
	$(BIN)/python benchmarks/plan_scale.py --items 20000

schema: $(STAMP)
	$(BIN)/reconciler schema > schema.json

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache $(DEMO)/.reconciler $(REGISTRATION)/.reconciler
