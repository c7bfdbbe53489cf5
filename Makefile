# Two commands for a newcomer: `make run` (the daemon on config.example.toml) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install run once test lint typecheck bench bench-small clean

$(BIN)/.installed: pyproject.toml constraints.txt setup.py $(wildcard monitor/matching/native/*.[ch])
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	$(BIN)/python -m pip check
	@# what pip does for a regular install: byte-compile the package once, so that every
	@# `leakmon` start (0.05 s of it) does not recompile it (PYTHONDONTWRITEBYTECODE stops
	@# Python writing the cache itself; stale files are recompiled in memory, never trusted)
	$(BIN)/python -m compileall -q monitor
	touch $@

install: $(BIN)/.installed

run: $(BIN)/.installed
	$(BIN)/leakmon --config config.example.toml run

once: $(BIN)/.installed
	$(BIN)/leakmon --config config.example.toml once

lint: $(BIN)/.installed
	$(BIN)/ruff check .

typecheck: $(BIN)/.installed
	$(BIN)/mypy

test: $(BIN)/.installed
	.ci/system-deps
	$(BIN)/ruff check .
	$(MAKE) typecheck
	$(BIN)/python -m pytest -q

bench: $(BIN)/.installed
	$(BIN)/python -m bench.run

bench-small: $(BIN)/.installed
	$(BIN)/python -m bench.small_bench

clean:
	rm -rf $(VENV) build *.egg-info monitor/matching/_native*.so
