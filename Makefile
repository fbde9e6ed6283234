# The two commands in the README are `make demo` and `make test`; everything else is for developers.
# A virtualenv is made in .venv unless one is already active. torch is installed first from the
# CPU wheel index (a bare `torch` requirement can pull a multi-GB CUDA build).

VENV ?= $(if $(VIRTUAL_ENV),$(VIRTUAL_ENV),.venv)
PY := $(VENV)/bin/python
TORCH_CPU := torch==2.13.0
TORCH_INDEX := https://download.pytorch.org/whl/cpu
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install install-test demo test lint bench clean

$(PY):
	python3 -m venv $(VENV)

install: $(PY)
	$(PY) -m pip install --quiet --retries 1 "$(TORCH_CPU)" --extra-index-url $(TORCH_INDEX)
	$(PY) -m pip install --quiet -e .

install-test: install
	$(PY) -m pip install --quiet -e ".[test]"
	bash scripts/install-browser
	bash scripts/install-postgres

demo: install
	$(VENV)/bin/digest demo

test: install-test
	bash scripts/run-tests $(PY)

lint:
	$(VENV)/bin/ruff check digest tests bench
	$(VENV)/bin/ruff format --check digest tests bench
	$(VENV)/bin/mypy

bench: install
	for script in bench/*.py; do $(PY) $$script || exit 1; done

clean:
	rm -rf data/digest.db* data/outbox data/site .pytest_cache
