#!/usr/bin/env bash
# The super-resolution weights `wav2lip bench enhance` measures against the
# blend (not used by the app, so not in package.json: the package pulls in
# TensorFlow.js as a peer). The npm package @upscalerjs/esrgan-slim, pinned,
# unpacked into $1 (default ~/.cache/wav2lip/esrgan-slim): models/x2, x4.
set -euo pipefail
out=${1:-$HOME/.cache/wav2lip/esrgan-slim}
version=1.0.0
if [ -f "$out/.version" ] && [ "$(cat "$out/.version")" = "$version" ]; then exit 0; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "@upscalerjs/esrgan-slim@$version" >/dev/null)
rm -rf "$out" && mkdir -p "$out"
tar -xzf "$tmp"/upscalerjs-esrgan-slim-$version.tgz -C "$out" --strip-components=1 package/models package/LICENSE 2>/dev/null \
  || tar -xzf "$tmp"/upscalerjs-esrgan-slim-$version.tgz -C "$out" --strip-components=1 package/models
echo "$version" > "$out/.version"
echo "esrgan-slim $version: $out/models"
