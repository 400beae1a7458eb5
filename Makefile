# Developer entry points. `make test` is the whole suite, exactly what CI runs.
PYTHON ?= python3
export RUSTDOCFLAGS := -D warnings

.PHONY: all install format lint test test-rust test-python bench

all: format test

## Build the Rust core (release) and install the package with its dev tools.
install:
	$(PYTHON) -m pip install --quiet '.[dev]'

format:
	cargo fmt --all
	$(PYTHON) -m ruff format .
	$(PYTHON) -m ruff check --fix .

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo doc --no-deps -p fusionflow-core --quiet
	$(PYTHON) -m ruff format --check .
	$(PYTHON) -m ruff check .
	$(PYTHON) -m mypy
	$(PYTHON) -m mypy.stubtest fusionflow._core

test-rust:
	cargo test -p fusionflow-core

test-python:
	$(PYTHON) -m pytest

## Install, lint, then the Rust and Python test suites.
test: install lint test-rust test-python

## Side-by-side benchmark against ripgrep (generates a ~1 GB corpus on first use).
bench:
	$(PYTHON) bench/grep_bench.py
