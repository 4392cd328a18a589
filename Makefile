# Two set-up commands: `make demo` (install, run a short sweep, summarise) and `make test`;
# `make lint` runs ruff (lint and format), mypy and the import check (CI runs it before the tests).
# Both create and reuse a virtual environment in .venv. Override the torch build with
# TORCH_SPEC, e.g. `make test TORCH_SPEC="torch>=2.1"` on a machine with a CUDA wheel index.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin

.PHONY: install demo lint test test-fast bench clean-venv

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[test,forecast,wandb,samplers,postgres,lightning,report,dashboard,bench]" --config-settings editable_mode=compat
	touch $@

install: $(BIN)/.installed

DEMO_DIR := outputs/sweeps/demo/$(shell date +%Y-%m-%d_%H-%M-%S)

demo: install
	$(BIN)/python train.py -m model=dmixer dataset=Wind experiment=quick hydra.sweeper.n_trials=8 \
		trainer.num_threads=1 hydra.sweep.dir=$(DEMO_DIR)
	$(BIN)/sweepkit summarize $(DEMO_DIR)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python scripts/check_imports.py

test: install
	$(BIN)/python -m pytest -q

test-fast: install
	$(BIN)/python -m pytest -q -m "not integration"

clean-venv:
	rm -rf $(VENV)
