# The two commands of the README: `make serve` runs the service, `make test` runs the tests.
VENV ?= .venv
PY := $(VENV)/bin/python

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,convert]'
	touch $@

install: $(VENV)/.installed

test: install
	$(PY) -m ruff check rosto tools tests
	$(PY) -m pytest -m "not slow"

serve: install
	$(VENV)/bin/rosto serve

.PHONY: install test serve
