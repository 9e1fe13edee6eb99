# Warden — the two commands are `make run` and `make test` (see README.md).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
export PATH := $(HOME)/.cargo/bin:$(PATH)

LISTEN ?= 127.0.0.1:8080
DATA_DIR ?= ./data
# `off`: Warden leaves the host firewall alone (as root it otherwise installs its guard table).
FIREWALL ?= on

.PHONY: run setup setup-test setup-deb build build-debug deb test test-unit test-integration lint fmt bench link-order clean

## Install what is missing, build in release, start Warden (prints the URL and, on first start, the admin password).
run: setup build
	./target/release/warden serve --listen $(LISTEN) --data-dir $(DATA_DIR) --firewall $(FIREWALL)

setup:
	@.ci/setup run

setup-test:
	@.ci/setup test

setup-deb:
	@.ci/setup deb

# `--split`: every page is a lazy route (app/src/routes.rs) whose WASM chunk is only fetched when the page
# is shown; without it the whole UI would ship as one module (and the lazy routes still work, unsplit).
# Then one bundle per lazy route of all the chunks it needs (.ci/bundle-chunks: a page's first load gets
# its route's code as one file, compressed together), and the brotli twin of every JS/WASM/CSS file,
# which the server sends to browsers that accept br.
# The two builds write separate sites: the release UI (`make run`, the release browser tests) is
# target/site, the debug UI (the other tests) target/site-debug, so one build never replaces the assets
# a running Warden of the other serves. cargo-leptos empties the site it builds into, so the release UI is
# built into a staging site and then published into target/site keeping the previous build's hashed
# files (a running `make run` keeps serving its own; .ci/publish-site).
RELEASE_SITE := target/site
DEBUG_SITE := target/site-debug

build:
	LEPTOS_SITE_ROOT=target/site-staging cargo leptos build --release --split
	.ci/bundle-chunks target/site-staging/pkg
	.ci/compress-assets target/site-staging/pkg
	.ci/publish-site target/site-staging $(RELEASE_SITE)

build-debug:
	LEPTOS_SITE_ROOT=$(DEBUG_SITE) cargo leptos build --split
	.ci/bundle-chunks $(DEBUG_SITE)/pkg
	.ci/compress-assets $(DEBUG_SITE)/pkg

## The Debian package: target/debian/warden_<version>_<arch>.deb (cargo-deb; contents in server/Cargo.toml,
# the unit, configuration and maintainer scripts in deploy/). It packages the release build that `make
# build` just made (--no-build: cargo-deb would otherwise build the binary again, without cargo-leptos'
# settings), with that build's UI from the staging site.
deb: setup-deb build
	rm -rf target/deb-extra && mkdir -p target/deb-extra/man target/deb-extra/completions
	target/release/warden manpages target/deb-extra/man
	target/release/warden completions bash > target/deb-extra/completions/warden
	target/release/warden completions zsh > target/deb-extra/completions/_warden
	target/release/warden completions fish > target/deb-extra/completions/warden.fish
	cargo deb -p warden --no-build

## The whole suite: unit, integration, firewall-in-namespaces and real-browser tests.
# Tests touch nftables only inside namespaces they create; if the host had no `table inet warden`
# before the run, it must have none after it. Both builds: most tests drive the debug build; the
# navigation smoke tests (every page, every link between them: tests/tests/browser_navigation.rs) and
# the live-status test (browser_live_status.rs) also drive the release build that `make run` serves.
# The package is built too (tests/tests/deb_package.rs installs, runs and purges it).
test: setup-test build build-debug deb
	@mkdir -p target; if nft list table inet warden >/dev/null 2>&1; then echo had > target/host-table-before; else echo none > target/host-table-before; fi
	cargo test --no-fail-fast -p warden -p warden-firewall --features warden-firewall/nft -p app --features app/ssr -p warden-tests -p warden-testkit 2>&1 | tee target/test-output.txt
	@if grep -qx none target/host-table-before && nft list table inet warden >/dev/null 2>&1; then \
	  echo "FAILED: the tests left a 'table inet warden' in the host's namespace (they must use their own)"; exit 1; fi
	@echo "test logs: target/test-output.txt; browser screenshots: target/artifacts/"

lint:
	cargo fmt --all -- --check
	cargo clippy -p warden -p warden-firewall -p warden-tests -p warden-testkit --all-targets --features warden-firewall/nft -- -D warnings
	cargo clippy -p frontend -p app --target wasm32-unknown-unknown --features app/hydrate -- -D warnings

fmt:
	cargo fmt --all

## Benchmarks (never part of `make test`): every tests/examples/bench_*.rs, in release, against the release binary.
bench: setup-test build
	@set -e; for f in tests/examples/bench_*.rs; do \
	  [ -e "$$f" ] || { echo "no benchmarks yet"; break; }; \
	  name=$$(basename "$$f" .rs); echo "=== $$name"; \
	  WARDEN_BIN=$(CURDIR)/target/release/warden cargo run --release -q -p warden-tests --example "$$name"; \
	done

## The release binary's code layout: profile the functions a running Warden executes (start-up, 200
# services, the API, the firewall in a namespace of its own when root, shutdown, the UI pages) and write
# server/layout/hot-functions.txt, which the release link places first (server/build.rs). Run it when
# tests/tests/release_layout.rs says the list is stale (new crate versions, features or toolchain);
# then `make build`. About 5 minutes (the release build, then Warden under valgrind).
link-order:
	@.ci/setup layout
	cargo build --release -p warden
	server/layout/profile.py --binary target/release/warden --out server/layout/hot-functions.txt

clean:
	cargo clean
