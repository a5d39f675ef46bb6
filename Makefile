# Two commands on a fresh machine: `make demo` and `make test`. Both build .venv when it is
# missing or older than pyproject.toml, then run.
#
# GPU users who want to keep their own torch: `make demo CONSTRAINTS=` after installing torch
# into .venv (or any venv: `pip install -e '.[test]'` without -c keeps the installed torch).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONSTRAINTS ?= constraints.txt
STAMP := $(VENV)/.thbench-installed
PIP_CONSTRAINT := $(if $(CONSTRAINTS),-c $(CONSTRAINTS),)

.PHONY: setup demo test report clean

setup: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check $(PIP_CONSTRAINT) -e '.[test]'
	touch $(STAMP)

# The main job (both baselines on the starter suite), then a smoke pass of the full TextHarmony
# stack at toy size with random weights (every request kind, 3 samples per task), then the
# leaderboard of every run in results/runs.
demo: setup
	$(BIN)/thbench run
	$(BIN)/thbench run --model textharmony-tiny --limit 3 --no-progress > /dev/null
	$(BIN)/thbench report

test: setup
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

report: setup
	$(BIN)/thbench report

clean:
	rm -rf $(VENV) results/runs data/starter
