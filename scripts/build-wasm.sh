#!/usr/bin/env bash
# Build the core for the browser: wasm32 release build -> wasm-bindgen (ES module
# for a module worker) -> wasm-opt. Output: www/pkg/.
set -euo pipefail
cd "$(dirname "$0")/.."

target_dir=${CARGO_TARGET_DIR:-$HOME/.cache/wav2lip/target}/wasm
out=www/pkg
wasm=$target_dir/wasm32-unknown-unknown/release/wav2lip.wasm

if rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  # A toolchain with a prebuilt wasm32 std: the ordinary path.
  cargo build --release --locked --target wasm32-unknown-unknown -p wav2lip --lib \
    --target-dir "$target_dir"
else
  # Debian's rustc-web ships std sources but no prebuilt wasm32 std: build std too.
  # /usr/bin first, because rustup's shims would otherwise shadow Debian's rustc.
  PATH=/usr/bin:$PATH RUSTC_BOOTSTRAP=1 \
    cargo build --release --locked --target wasm32-unknown-unknown -p wav2lip --lib \
    --target-dir "$target_dir" -Zbuild-std=std,panic_abort
fi

# wasm-bindgen and wasm-opt take minutes; skip them when the linked module and
# the tools are what the current www/pkg was made from.
source_id="$(sha256sum "$wasm" | cut -d' ' -f1) $(wasm-bindgen --version) WASM_OPT=${WASM_OPT:-1}"
if [ -f "$out/wav2lip_bg.wasm" ] && [ "$(cat "$out/.built-from" 2>/dev/null)" = "$source_id" ]; then
  echo "core: $out is up to date"
  exit 0
fi

rm -rf "$out.tmp"
wasm-bindgen --target web --no-typescript --out-dir "$out.tmp" "$wasm"

# Debian's binaryen (108) miscompiles wasm-bindgen output; the npm build is current.
wasm_opt=node_modules/.bin/wasm-opt
if [ -x "$wasm_opt" ] && [ "${WASM_OPT:-1}" != 0 ]; then
  "$wasm_opt" -O2 --enable-simd --enable-bulk-memory --enable-nontrapping-float-to-int \
    --enable-sign-ext --enable-mutable-globals \
    "$out.tmp/wav2lip_bg.wasm" -o "$out.tmp/wav2lip_bg.opt.wasm"
  mv "$out.tmp/wav2lip_bg.opt.wasm" "$out.tmp/wav2lip_bg.wasm"
fi
echo "$source_id" > "$out.tmp/.built-from"
rm -rf "$out" && mv "$out.tmp" "$out"

raw=$(stat -c %s "$out/wav2lip_bg.wasm")
gz=$(gzip -9 -c "$out/wav2lip_bg.wasm" | wc -c)
echo "core: $out/wav2lip_bg.wasm $((raw / 1024)) KiB raw, $((gz / 1024)) KiB gzipped"
