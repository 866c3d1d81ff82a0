#!/usr/bin/env bash
# Build the core for the browser, three ways (www/threads.js says which the
# worker loads):
#   wav2lip_bg.wasm                  WebGPU and the CPU path, single-threaded
#                                    (`--features webgpu`), for a hardware GPU,
#                                    and the CPU path where the page has no
#                                    shared memory;
#   wav2lip_threads_bg.wasm          the CPU path on a thread pool: wasm
#                                    atomics on a shared memory, no WebGPU
#                                    (wgpu's browser types cannot be shared
#                                    between threads);
#   wav2lip_threads_relaxed_bg.wasm  the same with relaxed SIMD (fused
#                                    multiply-adds, `--features relaxed-simd`),
#                                    for the engines that validate it.
# Each: wasm32 release build -> wasm-bindgen (ES module for a module worker:
# wav2lip.js, wav2lip_threads.js, wav2lip_threads_relaxed.js) -> wasm-opt.
# Each build keeps its own glue: the two threads builds export the same
# functions, but the linker numbers their closure shims as it pleases, and
# the glue names them by number. Output: www/pkg/.
set -euo pipefail
cd "$(dirname "$0")/.."

target_root=${CARGO_TARGET_DIR:-$HOME/.cache/wav2lip/target}
out=www/pkg
linked=$target_root/wasm-linked
mkdir -p "$linked"

# std is rebuilt from source (-Zbuild-std) in every build: Debian's
# rustc-web ships no prebuilt wasm32 std, and the threads builds need one
# with atomics anyway. A rustup toolchain needs its rust-src component.
export RUSTC_BOOTSTRAP=1

# build NAME TARGET_DIR RUSTFLAGS LINK_ARGS [CARGO ARGS…]: the linked module
# is kept as $linked/NAME.wasm. Each target dir keeps one set of RUSTFLAGS
# (changing them rebuilds everything); builds in one dir share std and the
# dependencies and differ only in our crate. LINK_ARGS reach only the link
# of our crate (`cargo rustc`), so they never rebuild the rest.
build() {
  local name=$1 dir=$target_root/$2 flags=$3 link=$4
  shift 4
  local args=()
  for arg in $link; do args+=(-C "link-arg=$arg"); done
  if rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    RUSTFLAGS=$flags cargo rustc --release --locked --target wasm32-unknown-unknown -p wav2lip --lib \
      --crate-type cdylib --target-dir "$dir" -Zbuild-std=std,panic_abort "$@" -- "${args[@]}"
  else
    # /usr/bin first, because rustup's shims would otherwise shadow Debian's rustc.
    PATH=/usr/bin:$PATH RUSTFLAGS=$flags cargo rustc --release --locked --target wasm32-unknown-unknown \
      -p wav2lip --lib --crate-type cdylib --target-dir "$dir" -Zbuild-std=std,panic_abort "$@" -- "${args[@]}"
  fi
  cp "$dir/wasm32-unknown-unknown/release/wav2lip.wasm" "$linked/$name.wasm"
}

# The WebGPU build and the two threads builds are in separate target dirs,
# so they are built at the same time: a release build leaves a core idle
# for long stretches (crates compiled one at a time down the dependency
# chain, the single-threaded fat-LTO link), which the other fills. Cold
# on 2 cores, this saves several minutes of the first `make test`.
build gpu wasm "" "" --features webgpu &
gpu=$!
# Not left running if the threads builds fail.
trap 'kill "$gpu" 2>/dev/null || true' EXIT
threads_link="--shared-memory --import-memory --max-memory=4294967296 --export=__wasm_init_tls --export=__tls_size --export=__tls_align --export=__tls_base"
# Atomics in every crate, std included; our crate linked to a shared,
# imported memory of up to 4 GiB, exporting the thread-local storage
# symbols wasm-bindgen sets up each thread with.
build threads wasm-threads "-C target-feature=+atomics,+bulk-memory,+mutable-globals" "$threads_link"
build threads.relaxed wasm-threads "-C target-feature=+atomics,+bulk-memory,+mutable-globals" "$threads_link" --features relaxed-simd
wait "$gpu"
trap - EXIT

# wasm-bindgen and wasm-opt take minutes; skip them when the linked modules
# and the tools are what the current www/pkg was made from.
source_id="$(cat "$linked"/{gpu,threads,threads.relaxed}.wasm | sha256sum | cut -d' ' -f1) $(wasm-bindgen --version) WASM_OPT=${WASM_OPT:-1}"
if [ -f "$out/wav2lip_threads_relaxed_bg.wasm" ] && [ "$(cat "$out/.built-from" 2>/dev/null)" = "$source_id" ]; then
  echo "core: $out is up to date"
  exit 0
fi

rm -rf "$out.tmp"
wasm-bindgen --target web --no-typescript --out-dir "$out.tmp" "$linked/gpu.wasm" --out-name wav2lip
wasm-bindgen --target web --no-typescript --out-dir "$out.tmp" "$linked/threads.wasm" --out-name wav2lip_threads
wasm-bindgen --target web --no-typescript --out-dir "$out.tmp" "$linked/threads.relaxed.wasm" --out-name wav2lip_threads_relaxed

modules="wav2lip_bg wav2lip_threads_bg wav2lip_threads_relaxed_bg"
# Debian's binaryen (108) miscompiles wasm-bindgen output; the npm build is current.
wasm_opt=node_modules/.bin/wasm-opt
if [ -x "$wasm_opt" ] && [ "${WASM_OPT:-1}" != 0 ]; then
  for module in $modules; do
    "$wasm_opt" -O2 --enable-simd --enable-relaxed-simd --enable-bulk-memory --enable-nontrapping-float-to-int \
      --enable-sign-ext --enable-mutable-globals --enable-threads \
      "$out.tmp/$module.wasm" -o "$out.tmp/$module.opt.wasm"
    mv "$out.tmp/$module.opt.wasm" "$out.tmp/$module.wasm"
  done
fi
echo "$source_id" > "$out.tmp/.built-from"
rm -rf "$out" && mv "$out.tmp" "$out"

for module in $modules; do
  raw=$(stat -c %s "$out/$module.wasm")
  gz=$(gzip -9 -c "$out/$module.wasm" | wc -c)
  echo "core: $out/$module.wasm $((raw / 1024)) KiB raw, $((gz / 1024)) KiB gzipped"
done
