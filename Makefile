# Ava-Edu: the two commands a newcomer needs are `make demo` and `make test`.
# Every target creates .venv on first use (a few minutes), then reuses it (seconds).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# On the course machines this pin resolves to a local CPU build; an unpinned torch pulls a multi-GB CUDA build.
TORCH  := torch==2.13.0

.PHONY: demo test lint lab export notebooks bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[dev]" "$(TORCH)"
	touch $(STAMP)

## demo: the course's main job from a fresh clone (today: build the data, train the tokenizer, print its statistics)
demo: $(STAMP)
	$(BIN)/ava-edu demo

## test: lint, the package tests, the notebook/package sync check, then every notebook top to bottom in fast mode
test: $(STAMP) lint
	AVA_EDU_FAST=1 $(BIN)/python -m pytest -n 2 tests/
	AVA_EDU_FAST=1 $(BIN)/python -m pytest -n 2 --dist loadfile --nbval-lax notebooks/

lint: $(STAMP)
	$(BIN)/ruff check ava_edu tests benchmarks tools notebooks

## lab: open JupyterLab on the course
lab: $(STAMP)
	$(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root,) notebooks/

## export: regenerate ava_edu/ from the notebooks (run after editing an exported cell)
export: $(STAMP)
	$(BIN)/python tools/export.py

## notebooks: re-execute every chapter at the learner's sizes and keep the outputs (commit them)
notebooks: $(STAMP)
	env -u AVA_EDU_FAST $(BIN)/python tools/run_notebooks.py notebooks/*.ipynb

## bench: the benchmarks, each a ratio against a peer measured in the same run
bench: $(STAMP)
	for script in benchmarks/*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
