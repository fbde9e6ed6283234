# The two commands in the README are `make demo` and `make test`; everything else is for developers.
# A virtualenv is made in .venv unless one is already active. torch comes first, the CPU build
# (scripts/install-torch: PyPI's Linux wheel of torch is the multi-GB CUDA build, which it
# refuses before downloading). Each step says what it does; pip shows its progress.

VENV ?= $(if $(VIRTUAL_ENV),$(VIRTUAL_ENV),.venv)
PY := $(VENV)/bin/python
TORCH_VERSION := 2.13.0
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install install-test demo test lint bench clean

$(PY):
	@echo "==> making a virtualenv in $(VENV)"
	python3 -m venv $(VENV)

install: $(PY)
	@echo "==> step 1 of 2: torch $(TORCH_VERSION), CPU build (skipped when it is there)"
	@bash scripts/install-torch $(PY) $(TORCH_VERSION)
	@echo "==> step 2 of 2: digest and the libraries it uses (pip install -e .)"
	$(PY) -m pip install --progress-bar on -e .
	@echo "==> the bundled model's ONNX export (built once, checked against the torch vectors)"
	-$(PY) -m digest embed --prepare

install-test: install
	@echo "==> the test tools (pip install -e '.[test]') and headless Chromium"
	$(PY) -m pip install --progress-bar on -e ".[test]"
	bash scripts/install-browser
	bash scripts/install-postgres

demo: install
	@echo "==> digest demo: a recorded week of arXiv ranked, mailed to the outbox, and the archive built"
	$(VENV)/bin/digest demo

test: install-test
	bash scripts/run-tests $(PY)

lint:
	$(VENV)/bin/ruff check digest tests bench
	$(VENV)/bin/ruff format --check digest tests bench
	$(VENV)/bin/mypy

bench: install-test
	for script in bench/*.py; do $(PY) $$script || exit 1; done

clean:
	rm -rf data/digest.db* data/outbox data/site .pytest_cache
