#!/usr/bin/env bash
# The core's unit tests that are marked for the browser (`wasm_bindgen_test`,
# or `#[test]` where a module imports it as `test`), built for wasm32 by
# `wasm-pack test` and run by wasm-bindgen-test-runner in Debian's Chromium
# through chromedriver, in a dedicated worker as the app runs the core,
# with WebGPU on (Chromium's software adapter here: the tests keep
# batches small). The WebGPU build's code (`--features webgpu`): the CPU
# path single-threaded, and the GPU path. With WASM_TEST_RELAXED=1, all
# again with relaxed SIMD in the CPU loops (`--features relaxed-simd`, as
# the threads build has it; webgpu kept, so that only this crate is
# rebuilt): not in `make test`, whose browser tests run the relaxed threads
# build against the authors' output already (tests/e2e/model.test.mjs),
# and which this would make two minutes longer.
set -euo pipefail
cd "$(dirname "$0")/.."

target_root=${CARGO_TARGET_DIR:-$HOME/.cache/wav2lip/target}
# Its own target dir: the test profile and the tests' features rebuild
# what they touch, and would otherwise undo the release builds' artifacts.
export CARGO_TARGET_DIR=$target_root/wasm-test
# std from source, as in scripts/build-wasm.sh.
export RUSTC_BOOTSTRAP=1
# Dependencies at opt-level 1 (the native tests want 3): cold, 13 min
# instead of 18 here, and the tests run as fast. No debug info: a test module with it is several times larger and slower
# to bind, and panics name their functions without it.
export CARGO_PROFILE_DEV_DEBUG=false
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  # Debian's rustc-web (TOOLCHAIN.md): /usr/bin before rustup's shims.
  export PATH=/usr/bin:$PATH
fi

# Chromium as the other browser tests start it (tests/e2e/harness.mjs):
# no background services, WebGPU on. The runner adds headless and no-sandbox.
# WASM_TEST_BROWSER=firefox: Debian's Firefox ESR through geckodriver
# (no WebGPU adapter there on Linux: the GPU tests say so and pass by).
browser=${WASM_TEST_BROWSER:-chrome}
webdriver=$(mktemp --suffix=.json)
trap 'rm -f "$webdriver"' EXIT
if [ "$browser" = firefox ]; then
  driver=(--firefox --geckodriver "${GECKODRIVER:-$(command -v geckodriver)}")
  cat > "$webdriver" <<JSON
{ "moz:firefoxOptions": { "binary": "${FIREFOX:-/usr/bin/firefox-esr}" } }
JSON
else
  driver=(--chrome --chromedriver "${CHROMEDRIVER:-/usr/bin/chromedriver}")
  cat > "$webdriver" <<JSON
{
  "goog:chromeOptions": {
    "binary": "${CHROMIUM:-/usr/bin/chromium}",
    "args": ["enable-unsafe-webgpu", "no-first-run", "disable-background-networking",
             "disable-component-update", "disable-sync", "disable-quic"]
  }
}
JSON
fi
export WASM_BINDGEN_TEST_WEBDRIVER_JSON=$webdriver
# For the whole run, not one test: the generator on the software adapter
# and the unoptimised std take minutes.
export WASM_BINDGEN_TEST_TIMEOUT=${WASM_BINDGEN_TEST_TIMEOUT:-1800}

run() {
  wasm-pack --log-level warn test --headless "${driver[@]}" --mode no-install crate \
    --locked --lib -Zbuild-std=std,panic_abort --config 'profile.dev.package."*".opt-level=1' "$@"
}
# --nocapture: the tests' figures (parity) are printed, as natively.
run --features webgpu -- --nocapture
if [ "${WASM_TEST_RELAXED:-0}" = 1 ]; then
  run --features webgpu,relaxed-simd -- --nocapture
fi
