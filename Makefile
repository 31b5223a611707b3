# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench clean

$(BIN)/mixforge: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, pinned: the CPU build on local disk, never a multi-GB CUDA download
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev,ray]'
	touch $(BIN)/mixforge

demo: $(BIN)/mixforge
	$(BIN)/mixforge demo

test: $(BIN)/mixforge
	scripts/ensure-chromium.sh
	$(BIN)/python -m pytest -q

lint: $(BIN)/mixforge
	$(BIN)/ruff check mixforge tests bench

clean:
	rm -rf $(VENV) mixforge-demo .pytest_cache
