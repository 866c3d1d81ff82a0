#!/usr/bin/env bash
# The media the app's browser tests feed it, made from the repository's photo
# (astronaut.png) with ffmpeg and espeak-ng: never committed, written to $1.
#   talking.mp4    2 s, 640×360, 25 fps, H.264 + AAC: a slow pan and zoom over
#                  the photo, and a synthetic voice saying a sentence
#   noface.mp4     1 s of a test pattern with the same voice: no face anywhere
#   silent.mp4     talking.mp4 without its sound
#   truncated.mp4  the first half of talking.mp4's bytes (an interrupted copy)
#   short.wav      under a second of the voice, for quick whole jobs
set -euo pipefail
out=${1:?usage: test-clips.sh DIR}
here="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ff() { ffmpeg -hide_banner -loglevel error -y "$@"; }

espeak-ng -v en -s 165 -w "$tmp/voice.wav" "Hello there. The lips now follow this voice."
espeak-ng -v en -s 165 -w "$out/short.wav" "Hi there."
# The photo on a 16:9 grey canvas, then a 25 fps camera move: the view
# narrows from 800 to 711 pixels wide and drifts right (the face moves left
# and grows in the frame).
ff -loop 1 -framerate 25 -i "$here/tests/fixtures/astronaut.png" -i "$tmp/voice.wav" \
  -filter_complex "[0:v]scale=720:720,pad=1280:720:280:0:color=0x787878,zoompan=z='1.6+0.004*on':x='220+1.5*on':y='0.3*on':d=1:s=640x360:fps=25,format=yuv420p[v]" \
  -map '[v]' -map 1:a -t 2 -c:v libx264 -preset veryfast -crf 18 -g 25 -c:a aac -b:a 96k -movflags +faststart "$out/talking.mp4"
ff -f lavfi -i testsrc2=s=320x240:r=25 -i "$tmp/voice.wav" -t 1 \
  -c:v libx264 -preset veryfast -pix_fmt yuv420p -c:a aac -b:a 96k "$out/noface.mp4"
ff -i "$out/talking.mp4" -an -c copy "$out/silent.mp4"
size=$(stat -c %s "$out/talking.mp4")
head -c $((size / 2)) "$out/talking.mp4" > "$out/truncated.mp4"
echo "test clips written to $out"
