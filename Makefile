# One command each: `make serve` to use the app, `make test` to check it.
# Both install what is missing first (scripts/setup.sh) and are safe to repeat.

# Build outputs live outside the clone so that a fresh clone (CI) reuses them.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/wav2lip/target
PORT ?= 8080

.PHONY: setup wasm native serve test test-native test-e2e clean

setup:
	@bash scripts/setup.sh

wasm: setup
	bash scripts/build-wasm.sh

native: setup
	cargo build --release --locked -p wav2lip

serve: wasm
	PORT=$(PORT) node scripts/serve.mjs

test: setup test-native wasm test-e2e

test-native:
	cargo test --locked -p wav2lip

# Needs `make wasm` first (`make test` does it).
test-e2e:
	node --test --test-concurrency=1 tests/e2e/

clean:
	rm -rf www/pkg
