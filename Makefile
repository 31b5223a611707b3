# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# the MDS reader's own environment: mosaicml-streaming pins numpy<2.2 (tests/mixers/test_export_mds.py)
MDS_VENV := .venv-mds
MDS_REQ := tests/mixers/mds_reader_requirements.txt
# the OLMo-core reader's own environment (tests/mixers/test_export_olmo.py)
OLMO_VENV := .venv-olmo
OLMO_REQ := tests/mixers/olmo_reader_requirements.txt
# the litdata reader's own environment: litdata asks for torchvision (tests/mixers/test_export_litdata.py)
LITDATA_VENV := .venv-litdata
LITDATA_REQ := tests/mixers/litdata_reader_requirements.txt
# NeMo Curator's code filters, the code rules' reference (tests/curate/test_code_rules_reference.py)
NEMO_VENV := .venv-nemo
NEMO_REQ := tests/curate/nemo_requirements.txt

.PHONY: demo test lint bench clean .venv-mds .venv-olmo .venv-litdata .venv-nemo

$(BIN)/mixforge: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, pinned: the CPU build on local disk, never a multi-GB CUDA download
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev,ray,web,s3]'
	touch $(BIN)/mixforge

demo: $(BIN)/mixforge
	$(BIN)/mixforge demo

$(MDS_VENV)/.done: $(MDS_REQ)
	PY=$(PY) scripts/reader-venv.sh $(MDS_VENV) $(MDS_REQ) mosaicml-streaming==0.13.0

.venv-mds: $(MDS_VENV)/.done

$(OLMO_VENV)/.done: $(OLMO_REQ)
	PY=$(PY) scripts/reader-venv.sh $(OLMO_VENV) $(OLMO_REQ)

.venv-olmo: $(OLMO_VENV)/.done

$(LITDATA_VENV)/.done: $(LITDATA_REQ)
	PY=$(PY) scripts/reader-venv.sh $(LITDATA_VENV) $(LITDATA_REQ) litdata==0.2.76

.venv-litdata: $(LITDATA_VENV)/.done

$(NEMO_VENV)/.done: $(NEMO_REQ)
	PY=$(PY) TORCH=0 scripts/reader-venv.sh $(NEMO_VENV) $(NEMO_REQ) nemo-curator==1.4.0

.venv-nemo: $(NEMO_VENV)/.done

# the real pretrained tokenizers of the id-parity tests (pinned, sha256-checked); with
# MIXFORGE_TEST_STRICT=1 a test whose optional piece (those files, a reader venv) is missing
# fails instead of skipping (tests/requires.py)
TOKENIZER_FILES ?= $(HOME)/.cache/mixforge/tokenizers

test: $(BIN)/mixforge $(MDS_VENV)/.done $(OLMO_VENV)/.done $(LITDATA_VENV)/.done \
      $(NEMO_VENV)/.done
	scripts/ensure-chromium.sh
	MIXFORGE_TOKENIZER_FILES=$(TOKENIZER_FILES) PYTHON=$(BIN)/python scripts/get-tokenizers.sh
	MIXFORGE_TOKENIZER_FILES=$(TOKENIZER_FILES) MIXFORGE_TEST_STRICT=1 $(BIN)/python -m pytest -q

lint: $(BIN)/mixforge
	$(BIN)/ruff check mixforge tests bench

clean:
	rm -rf $(VENV) $(MDS_VENV) $(OLMO_VENV) $(LITDATA_VENV) $(NEMO_VENV) mixforge-demo .pytest_cache

# every benchmark with its peers; rewrites the tables of docs/benchmarks.md (bench/all.py).
# CORPUS: one or more [NAME=]PATH (anything `mixforge ingest` reads); without it, the two
# real corpora (`local`, `other`) are built and measured, and scaling runs at 25/100/400 MB.
CORPUS ?=
BENCH_ARGS ?=
bench: $(BIN)/mixforge
	PYTHONPATH=$(CURDIR) $(BIN)/python -m bench.all $(foreach c,$(CORPUS),--corpus $(c)) $(BENCH_ARGS)
