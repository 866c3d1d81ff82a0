#!/usr/bin/env bash
# A sound output for headless Firefox: with none (no sound card, no sound
# server, as on CI machines) it keeps an AudioContext suspended, and live
# mode cannot start (the page says so). A PulseAudio daemon with a null sink
# is one. Chromium needs none. Idempotent: an output already there is kept.
set -euo pipefail
if ! pactl info >/dev/null 2>&1; then
  # As root (CI containers) PulseAudio warns and runs anyway.
  pulseaudio --start --exit-idle-time=-1 2>/dev/null || pulseaudio --start --exit-idle-time=-1
fi
if ! pactl list short sinks | grep -q .; then
  pactl load-module module-null-sink sink_name=null >/dev/null
fi
echo "firefox-sound: $(pactl list short sinks | awk '{print $2}' | paste -sd, -)"
