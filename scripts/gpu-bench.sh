#!/usr/bin/env bash
# Issue 8's real-GPU figures in one command, on a Linux machine with a GPU
# and its Vulkan driver: the generator on our WGSL kernels and on burn's
# (both through wgpu), then PyTorch on the same GPU.
#
#   scripts/gpu-bench.sh [WAV2LIP]
#
# WAV2LIP: a binary from `make native` (built with --features gpu), e.g.
# one carried to a machine without Rust; without it, cargo builds one.
# PyTorch's figures need python3 with torch (tests/bench/torch-generator.py).
set -uo pipefail
cd "$(dirname "$0")/.."

bin=${1:-}
if [ -z "$bin" ]; then
  export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/wav2lip/target}
  cargo build --release --locked -p wav2lip --features gpu || exit 1
  bin=$CARGO_TARGET_DIR/release/wav2lip
fi
batches=${BATCHES:-1,8,32}
runs=${RUNS:-10}

nvidia-smi --query-gpu=name,clocks.max.sm,memory.total --format=csv 2>/dev/null
echo "== ours (WGSL kernels through wgpu)"
"$bin" selftest --device wgpu
"$bin" bench --device gpu --batches "$batches" --runs "$runs"
echo "== burn's kernels through wgpu"
"$bin" bench --device wgpu --batches "$batches" --runs "$runs"
echo "== PyTorch"
python3 tests/bench/torch-generator.py --batches "$batches" --runs "$runs"
