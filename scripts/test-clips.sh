#!/usr/bin/env bash
# The media the app's browser tests feed it, made from the repository's photo
# (astronaut.png) with ffmpeg and espeak-ng: never committed, written to $1.
#   talking.mp4    2 s, 640×360, 25 fps, H.264 + AAC: a slow pan and zoom over
#                  the photo, and a synthetic voice saying a sentence
#   noface.mp4     1 s of a test pattern with the same voice: no face anywhere
#   silent.mp4     talking.mp4 without its sound
#   truncated.mp4  the first half of talking.mp4's bytes (an interrupted copy)
#   short.wav      under a second of the voice, for quick whole jobs
#   camera.y4m     live mode's camera (Chromium's fake capture device): the
#                  photo still, cropped to 640×360 (as turning.mp4), 1 s at 25 fps (looped);
#                  camera.png is its first frame, for the file job it is
#                  compared with
#   mic.wav        live mode's microphone: the voice at 48 kHz mono (looped)
#   wide.mp4       2 s, 1920×1080: a wide shot, the person far from the camera
#                  (the face about 70 px tall, under 7 % of the frame's
#                  height) on a noisy wall, the camera panning; the voice
#   turning.mp4    3 s, 640×360: the photo's face towards the camera, then
#                  turned in depth (`wav2lip turn-face --yaw 50`, which the
#                  mesh reads as about 25°) from 1 s to 2 s, then back
#   odd/           the odd but ordinary files people have (tests/e2e/odd.test.mjs
#                  runs each through the page): faces rotated by the phone
#                  (90°, 270°), an odd-sized VP9, 4K, one frame, variable frame
#                  rate, a scene cut to another face, a PNG with alpha, a WebP,
#                  a video starting 1 s after its sound, an 8K photo, a
#                  10 000 × 10 000 video; voices in MP3, FLAC
#                  96 kHz 5.1, 8 kHz µ-law, 22.05 kHz, Opus 5.1 in WebM, 7.1 WAV;
#                  random bytes named .mp4 and .mp3
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
(cd "$here" && ${WAV2LIP_CLI:-cargo run --locked -q -p wav2lip --} turn-face tests/fixtures/astronaut.png --yaw 50 -o "$tmp/turned.png")
for still in front:"$here/tests/fixtures/astronaut.png" turned:"$tmp/turned.png"; do
  ff -loop 1 -framerate 25 -i "${still#*:}" -t 1 -vf "crop=384:216:33:0,scale=640:360,format=yuv420p" -c:v libx264 -preset veryfast -crf 18 "$tmp/${still%%:*}.mp4"
done
ff -i "$tmp/front.mp4" -i "$tmp/turned.mp4" -i "$tmp/voice.wav" \
  -filter_complex "[0:v][1:v][0:v]concat=n=3:v=1[v]" -map '[v]' -map 2:a -t 3 \
  -c:v libx264 -preset veryfast -crf 18 -c:a aac -b:a 96k "$out/turning.mp4"
ff -loop 1 -framerate 25 -i "$here/tests/fixtures/astronaut.png" -t 1 -vf "crop=384:216:33:0,scale=640:360,format=yuv420p" "$out/camera.y4m"
ff -i "$out/camera.y4m" -frames:v 1 "$out/camera.png"
ff -i "$tmp/voice.wav" -ar 48000 -ac 1 -c:a pcm_s16le "$out/mic.wav"
# The photo at 0.56× (its face 125 → 70 px) drifting 100 px a second
# across a 1080p wall.
ff -f lavfi -i "color=c=0x8a857c:s=1920x1080:r=25,noise=alls=6:allf=t" -loop 1 -framerate 25 -i "$here/tests/fixtures/astronaut.png" -i "$tmp/voice.wav" \
  -filter_complex "[1:v]scale=287:287[p];[0:v][p]overlay=x='1100-100*t':y=430:shortest=1,format=yuv420p[v]" \
  -map '[v]' -map 2:a -t 2 -c:v libx264 -preset veryfast -crf 20 -c:a aac -b:a 96k -movflags +faststart "$out/wide.mp4"
size=$(stat -c %s "$out/talking.mp4")
head -c $((size / 2)) "$out/talking.mp4" > "$out/truncated.mp4"

# The odd media: each short, so that a job on each stays quick.
odd="$out/odd"
mkdir -p "$odd"
ff -i "$out/talking.mp4" -t 1 -c copy -metadata:s:v:0 rotate=90 "$odd/rotated90.mp4"
ff -i "$out/talking.mp4" -t 1 -c copy -metadata:s:v:0 rotate=270 "$odd/rotated270.mp4"
ff -i "$out/talking.mp4" -t 1 -vf scale=321:375,setsar=1 -c:v libvpx-vp9 -deadline realtime -cpu-used 8 -b:v 1M -c:a libopus "$odd/odd321x375.webm"
ff -i "$out/talking.mp4" -t 0.4 -vf scale=3840:2160 -c:v libx264 -preset ultrafast -crf 28 -c:a aac "$odd/uhd.mp4"
ff -i "$out/talking.mp4" -frames:v 1 -an -c:v libx264 "$odd/oneframe.mp4"
# Variable frame rate: frames held 40, 80 and 20 ms in turn.
ff -i "$out/talking.mp4" -t 1.2 -vf "setpts='N/25/TB+if(eq(mod(N,3),1),0.04/TB,0)+if(eq(mod(N,3),2),0.02/TB,0)+floor(N/3)*0.02/TB'" -fps_mode vfr -c:v libx264 -preset veryfast -an "$odd/vfr.mp4"
# A scene cut: half a second of the clip, then another face (the photo
# mirrored, recoloured and placed elsewhere).
ff -i "$out/talking.mp4" -loop 1 -framerate 25 -i "$here/tests/fixtures/astronaut.png" -filter_complex \
  "[0:v]trim=0:0.5,setpts=PTS-STARTPTS[a];[1:v]hflip,hue=h=40,scale=300:300,pad=640:360:40:30:color=0x404040,trim=0:0.5,setpts=PTS-STARTPTS,format=yuv420p[b];[a][b]concat=n=2:v=1[v]" \
  -map '[v]' -c:v libx264 -preset veryfast "$odd/montage.mp4"
ff -i "$here/tests/fixtures/astronaut.png" -vf "scale=256:256,format=rgba,geq=r='r(X,Y)':g='g(X,Y)':b='b(X,Y)':a='if(lt(X,40),0,255)'" "$odd/alpha.png"
ff -i "$here/tests/fixtures/astronaut.png" -vf scale=320:320 "$odd/face.webp"
# The picture starts a second after the sound.
ff -i "$tmp/voice.wav" -itsoffset 1 -i "$out/silent.mp4" -map 1:v -map 0:a -c:v copy -c:a aac "$odd/late-video.mp4"
# Too big: an 8K photo (a job shrinks it to 4K), and a 10 000 × 10 000 video
# (refused with a sentence before any work).
ff -i "$here/tests/fixtures/astronaut.png" -vf scale=7680:4320 -q:v 4 "$odd/photo8k.jpg"
ff -f lavfi -i color=c=gray:s=10000x10000:r=25 -frames:v 2 -c:v libx264 -preset ultrafast "$odd/huge.mp4"
# Voices. The surround ones carry the speech in the centre channel, as films do.
ff -i "$out/short.wav" -ar 44100 -ac 2 -c:a libmp3lame -b:a 128k "$odd/voice.mp3"
ff -i "$out/short.wav" -af "pan=5.1|FC=c0|FL=0.2*c0|FR=0.2*c0|LFE=0.1*c0,aresample=96000" -c:a flac "$odd/surround96k.flac"
ff -i "$out/short.wav" -ar 8000 -c:a pcm_mulaw "$odd/mulaw8k.wav"
ff -i "$out/short.wav" -ar 22050 -c:a pcm_s16le "$odd/voice22k.wav"
ff -i "$out/short.wav" -af "pan=5.1|FC=c0|FL=0.3*c0|FR=0.3*c0|BL=0.1*c0|BR=0.1*c0,aresample=48000" -c:a libopus -b:a 128k "$odd/surround51.webm"
ff -i "$out/short.wav" -af "pan=7.1|FC=c0|FL=0.3*c0|FR=0.3*c0|SL=0.1*c0|SR=0.1*c0,aresample=48000" -c:a pcm_s16le "$odd/surround71.wav"
# Noise bytes (seeded: the same every time).
ff -f lavfi -i "anoisesrc=d=1:c=white:seed=7:r=65536" -f u8 -ac 1 "$odd/random.mp4"
cp "$odd/random.mp4" "$odd/random.mp3"
echo "test clips written to $out"
