# The two commands the README promises: `make demo` and `make test`. Both create the virtualenv
# and install the pinned dependencies themselves, so they work on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck imports protocheck unit system bench proto clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m sim.demo

test: lint typecheck imports protocheck unit system

lint: $(STAMP)
	$(VENV)/bin/ruff check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy actors messages sim bench unit_tests system_tests scripts

imports: $(STAMP)
	$(VENV)/bin/lint-imports --no-cache
	$(PY) scripts/check_layers.py

protocheck: $(STAMP)
	$(PY) scripts/generate_wire.py --check

proto: $(STAMP)
	$(PY) scripts/generate_wire.py

unit: $(STAMP)
	$(PY) -m pytest unit_tests -q

system: $(STAMP)
	$(PY) -m pytest system_tests -q || [ $$? -eq 5 ]

bench: $(STAMP)
	$(PY) -m bench all

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache build *.egg-info
