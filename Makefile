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
