#!/usr/bin/env bash
# `make fuzz`: every parser that reads a user's bytes under libFuzzer
# (cargo-fuzz on a nightly toolchain; a developer's tool, not CI's).
#   scripts/fuzz.sh [TARGET ...]     default: all of them, one after another
# Each runs until FUZZ_RUNS executions or FUZZ_SECONDS, whichever comes
# first, with libFuzzer's limits on memory (an over-allocation is a finding)
# and time per input (a hang is a finding). Corpora are seeded from the test
# fixtures and kept in crate/fuzz/corpus/ (not committed); findings land in
# crate/fuzz/artifacts/TARGET/.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
fuzz="$here/crate/fuzz"
runs=${FUZZ_RUNS:-10000000}
seconds=${FUZZ_SECONDS:-1800}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(checkpoint pickle tflite npy wav)

if ! command -v cargo-fuzz >/dev/null; then
  cargo install cargo-fuzz --version 0.13.1 --locked
fi
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal

seed() {
  local dir="$fuzz/corpus/$1"
  mkdir -p "$dir"
  [ -z "$(ls -A "$dir")" ] || return 0
  case $1 in
    checkpoint) cp "$here"/tests/fixtures/*.pth "$here"/tests/fixtures/*.safetensors "$dir/" ;;
    pickle)
      # The pickles inside the fixtures: the zip's data.pkl, and the legacy
      # stream's first pickles (the rest of its bytes are storages).
      python3 - "$here/tests/fixtures" "$dir" <<'PY'
import sys, zipfile
src, dst = sys.argv[1:]
with zipfile.ZipFile(f"{src}/layout_zip.pth") as z:
    for name in z.namelist():
        if name.endswith(".pkl"):
            open(f"{dst}/{name.replace('/', '_')}", "wb").write(z.read(name))
open(f"{dst}/legacy_head", "wb").write(open(f"{src}/layout_legacy.pth", "rb").read()[:16384])
PY
      ;;
    tflite)
      local model="$here/node_modules/@mediapipe/face_detection/face_detection_short_range.tflite"
      [ -f "$model" ] || (cd "$here" && npm ci --no-audit --no-fund)
      cp "$model" "$dir/" ;;
    npy)
      cp "$here/tests/fixtures/gen_mel.npy" "$dir/"
      python3 - "$dir" <<'PY'
import struct, sys
def npy(shape, version=1):
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }" % "".join(f"{d}," for d in shape)
    header += " " * (63 - len(header) % 64) + "\n"
    size = struct.pack("<H" if version == 1 else "<I", len(header))
    n = 1
    for d in shape: n *= d
    return b"\x93NUMPY" + bytes([version, 0]) + size + header.encode() + struct.pack(f"<{n}f", *range(n))
for i, (shape, version) in enumerate([((3, 4), 1), ((), 1), ((2, 1, 2), 2), ((0, 5), 3)]):
    open(f"{sys.argv[1]}/seed{i}.npy", "wb").write(npy(shape, version))
PY
      ;;
    wav)
      # Short WAVs in each sample format hound reads, and one it does not.
      local f
      for f in "pcm_s16le 16000 1" "pcm_f32le 48000 2" "pcm_u8 8000 1" "pcm_s24le 96000 6" "pcm_s32le 22050 3" "pcm_mulaw 8000 1"; do
        set -- $f
        ffmpeg -hide_banner -loglevel error -y -f lavfi -i "sine=frequency=440:sample_rate=$2:duration=0.05" \
          -af "aformat=channel_layouts=$(case $3 in 1) echo mono;; 2) echo stereo;; 3) echo 3.0;; 6) echo 5.1;; esac)" \
          -c:a "$1" "$dir/$1-$2-$3.wav"
      done ;;
  esac
}

max_len() {
  case $1 in
    checkpoint) echo 262144 ;;
    tflite) echo 262144 ;;
    *) echo 65536 ;;
  esac
}

cd "$fuzz"
for target in "${targets[@]}"; do
  seed "$target"
  echo "== $target: up to $runs executions or $seconds s"
  env -u CARGO_TARGET_DIR cargo +nightly fuzz run --sanitizer none "$target" "corpus/$target" -- \
    -runs="$runs" -max_total_time="$seconds" -max_len="$(max_len "$target")" \
    -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10 -print_final_stats=1 2>&1 | tee "/tmp/fuzz-$target.log" | grep -E '^(#[0-9]+\s+DONE|==|stat::|SUMMARY|Done)' || true
  if grep -qE 'SUMMARY|crash-|leak-|timeout-|oom-' "/tmp/fuzz-$target.log"; then
    echo "$target: a finding, see /tmp/fuzz-$target.log and crate/fuzz/artifacts/$target/" >&2
    exit 1
  fi
done
