# The two commands of the README:
#   make up    builds the UI and Lookout (release) and runs `lookout up`
#   make test  installs what the tests need, then runs every test (Rust, end-to-end, browser)
.PHONY: up test ui build test-deps rust-tests browser-tests lint

CARGO ?= cargo

up: ui
	$(CARGO) build --release --bins
	./target/release/lookout up

ui:
	cd query-ui && npm ci --no-audit --no-fund && npm run build

test: test-deps ui
	$(CARGO) build --workspace --bins
	$(MAKE) rust-tests
	$(MAKE) browser-tests

test-deps:
	scripts/install-test-deps.sh

rust-tests:
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		$(CARGO) nextest run --workspace --no-fail-fast; \
	else \
		$(CARGO) test --workspace --no-fail-fast; \
	fi

browser-tests:
	cd tests/browser && npm ci --no-audit --no-fund && node --test

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings
