#!/usr/bin/env bash
# Install whatever this machine lacks to build, serve and test the app, and
# nothing it already has: a second run installs nothing.
# Fresh Debian 12 (root, or sudo), with the package registries reachable.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "setup: $*"; }
sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
installed=()

# --- Debian packages -------------------------------------------------------
# ffmpeg and espeak-ng make the test clips (scripts/test-clips.sh);
# chromium-driver lets wasm-pack's test runner drive Chromium; Firefox ESR
# runs the browser tests too, with PulseAudio as its sound output
# (scripts/firefox-sound.sh).
need=(chromium chromium-driver firefox-esr pulseaudio pulseaudio-utils nodejs npm ffmpeg espeak-ng)
# Without a rustup wasm32 target, Debian's rustc-web builds std for wasm32 (TOOLCHAIN.md).
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  need+=(rustc-web cargo-web rust-web-src rust-web-llvm lld-22)
fi
missing=()
for pkg in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
# node and npm may come from elsewhere (nodesource, nvm); only install them when absent.
command -v node >/dev/null && missing=("${missing[@]/nodejs}")
command -v npm >/dev/null && missing=("${missing[@]/npm}")
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
if [ ${#missing[@]} -gt 0 ]; then
  say "apt-get install ${missing[*]}"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
  installed+=("apt: ${missing[*]}")
fi

# --- Rust ------------------------------------------------------------------
if ! command -v cargo >/dev/null; then
  say "no cargo: install Rust >= 1.95 (rustup) first" >&2
  exit 1
fi

# wasm-bindgen-cli must be exactly the version of the wasm-bindgen crate in Cargo.lock.
wb_version=$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/version = |"/, ""); print; exit}' Cargo.lock)
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$wb_version" ]; then
  say "cargo install wasm-bindgen-cli $wb_version"
  cargo install wasm-bindgen-cli --version "$wb_version" --force
  installed+=("cargo: wasm-bindgen-cli $wb_version")
fi

# wasm-pack runs the core's unit tests in Chromium (scripts/test-wasm.sh).
wasm_pack_version=0.15.1
if [ "$(wasm-pack --version 2>/dev/null | awk '{print $2}')" != "$wasm_pack_version" ]; then
  say "cargo install wasm-pack $wasm_pack_version"
  cargo install wasm-pack --version "$wasm_pack_version" --locked --force
  installed+=("cargo: wasm-pack $wasm_pack_version")
fi

# geckodriver lets wasm-pack's test runner drive Firefox (not packaged by Debian).
geckodriver_version=0.36.0
if [ "$(geckodriver --version 2>/dev/null | awk 'NR==1 {print $2}')" != "$geckodriver_version" ]; then
  say "cargo install geckodriver $geckodriver_version"
  cargo install geckodriver --version "$geckodriver_version" --locked --force
  installed+=("cargo: geckodriver $geckodriver_version")
fi

# --- Node packages (playwright-core, puppeteer-core for Firefox, binaryen's wasm-opt), from the lockfile --
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat node_modules/.lock-hash 2>/dev/null)" != "$lock_hash" ]; then
  say "npm ci"
  npm ci --no-audit --no-fund
  echo "$lock_hash" > node_modules/.lock-hash
  installed+=("npm: $(node -p 'Object.keys(require("./package-lock.json").packages).filter(Boolean).join(" ")')")
fi

if [ ${#installed[@]} -eq 0 ]; then
  say "nothing to install"
else
  printf 'setup: installed %s\n' "${installed[@]}"
fi
