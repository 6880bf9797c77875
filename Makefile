# `make demo`: set everything up and run plan + apply + plan on the embedded sandbox.
# `make test`: set everything up and run the whole test suite (lint, types, tests).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO := examples/quickstart
REGISTRATION := examples/registration
RULES := examples/datasets-by-rule

.PHONY: demo test lint typecheck fidelity schema bench clean

# A .venv made by a Python older than 3.11, or whose Python no longer runs, is made anew (saying why):
# VENV_PY is "3.9 0" for an old one, "3.12 1" for a good one, empty when there is none or it is broken.
VENV_PY := $(shell $(BIN)/python -c 'import sys; print("%d.%d" % sys.version_info[:2], int(sys.version_info >= (3, 11)))' 2>/dev/null)
ifneq ($(word 2,$(VENV_PY)),1)
$(BIN)/python: FORCE
endif
$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || \
	  { echo "$(PYTHON) is not Python 3.11+: run make PYTHON=python3.12 (or another 3.11+)" >&2; exit 1; }
	@if [ -e $(VENV) ]; then \
	  echo "rebuilding $(VENV): $(if $(VENV_PY),it was made with Python $(word 1,$(VENV_PY)),its Python is missing or does not run); reconciler needs 3.11+"; \
	  rm -rf $(VENV); \
	fi
	$(PYTHON) -m venv $(VENV)

FORCE:

# The distribution was named `reconciler` before (on PyPI that name is another project's): an old
# editable install of it is removed first, so that only reconciler-encord provides the package.
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	-@$(BIN)/python -m pip uninstall --quiet --yes reconciler 2>/dev/null
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
	rm -rf $(RULES)/.reconciler
	$(BIN)/reconciler validate $(RULES)
	$(BIN)/reconciler plan $(RULES)
	$(BIN)/reconciler apply $(RULES) --auto-approve
	$(BIN)/reconciler plan $(RULES) --detailed-exitcode

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
	$(BIN)/python benchmarks/plan_scale.py --shape all --items 200000
	$(BIN)/python benchmarks/sandbox_scale.py --folders 100 --items 20000
	$(BIN)/python benchmarks/registration.py --sizes 100000 --apply-size 20000
	$(BIN)/python benchmarks/bucket_listing.py --objects 1000000 --fake-gcs 20000
	$(BIN)/python benchmarks/sandbox_folder.py --images 100000
	$(BIN)/python benchmarks/rules_scale.py --items 200000
	$(BIN)/python benchmarks/plan_scale.py --items 20000

schema: $(STAMP)
	$(BIN)/reconciler schema > schema.json

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache $(DEMO)/.reconciler $(REGISTRATION)/.reconciler $(RULES)/.reconciler
