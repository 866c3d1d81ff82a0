# One command each: `make serve` to use the app, `make test` to check it.
# Both install what is missing first (scripts/setup.sh) and are safe to repeat.

# Build outputs live outside the clone so that a fresh clone (CI) reuses them.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/wav2lip/target
PORT ?= 8080
# Large files the browser tests need, written by the CLI (never committed).
export WAV2LIP_FIXTURES ?= $(HOME)/.cache/wav2lip/fixtures

.PHONY: setup wasm js models native serve dist test test-native test-wasm test-wasm-firefox test-e2e test-e2e-firefox bench fuzz clean

setup:
	@bash scripts/setup.sh

wasm: setup
	bash scripts/build-wasm.sh

# The browser libraries and the face detector's weights the app loads, from
# node_modules (setup installs them from the lockfile) to www/lib/, which is
# not committed; then the service worker's list of files (and version).
js: models
	cp node_modules/mediabunny/dist/bundles/mediabunny.min.mjs www/lib/mediabunny.js
	node scripts/precache.mjs

# The face models, from their npm packages to www/lib/ (the native tests
# read them there too): BlazeFace's weights (full range to search frames,
# short range around a followed face), and Face Mesh's landmark model and
# canonical face, taken out of the package's packed assets.
models: setup
	mkdir -p www/lib
	cp node_modules/@mediapipe/face_detection/face_detection_full_range.tflite node_modules/@mediapipe/face_detection/face_detection_short_range.tflite www/lib/
	node scripts/mediapipe-assets.mjs

# The static site, in one folder any static host can serve (see README for
# the headers it must send).
dist: wasm js
	node scripts/precache.mjs --dist dist

native: setup
	cargo build --release --locked -p wav2lip --features gpu

serve: wasm js
	PORT=$(PORT) node scripts/serve.mjs

test: setup test-native test-wasm wasm js test-e2e

test-native: models
	cargo test --locked -p wav2lip

# The core's unit tests marked for the browser, in Chromium (wasm-pack).
test-wasm: models
	bash scripts/test-wasm.sh

# The same in Firefox ESR (reuses test-wasm's build; 82 pass, 4.5 min):
# not in `make test` until its cold time is back under an hour.
test-wasm-firefox: models
	WASM_TEST_BROWSER=firefox bash scripts/test-wasm.sh

# Needs `make wasm` first (`make test` does it). Every browser test in
# Chromium, then in Firefox ESR the ones that cover each feature: models,
# a photo job offline, video jobs with their downloads, recordings, live
# mode, refusals.
FIREFOX_TESTS = model lipsync offline
test-e2e: $(WAV2LIP_FIXTURES)/formula7.pth $(WAV2LIP_FIXTURES)/syncnet.pth $(WAV2LIP_FIXTURES)/talking.mp4
	node --test --test-concurrency=1 tests/e2e/
	$(MAKE) test-e2e-firefox

# Live mode needs a sound output (scripts/firefox-sound.sh: a PulseAudio
# null sink); the other tests run without one (PULSE_SERVER to nowhere), as
# the null sink's uneven clock cut Firefox's microphone recordings short.
test-e2e-firefox: $(WAV2LIP_FIXTURES)/formula7.pth $(WAV2LIP_FIXTURES)/syncnet.pth $(WAV2LIP_FIXTURES)/talking.mp4
	PULSE_SERVER=unix:/nonexistent BROWSER=firefox node --test --test-concurrency=1 $(FIREFOX_TESTS:%=tests/e2e/%.test.mjs)
	bash scripts/firefox-sound.sh
	BROWSER=firefox node --test --test-concurrency=1 tests/e2e/live.test.mjs

# The oracle's formula weights (seed 7) as a checkpoint in the released
# layout: the browser loads it as a user's file and must reproduce gen_out.npy.
$(WAV2LIP_FIXTURES)/formula7.pth:
	mkdir -p $(WAV2LIP_FIXTURES)
	cargo run --locked -q -p wav2lip -- formula-checkpoint -o $@

# A checkpoint of the wrong model (the SyncNet expert's layout), to be refused.
$(WAV2LIP_FIXTURES)/syncnet.pth:
	mkdir -p $(WAV2LIP_FIXTURES)
	cargo run --locked -q -p wav2lip -- formula-checkpoint --syncnet -o $@

# The clips the app is run on (and the broken ones it must refuse plainly).
# (turning.mp4 needs the CLI and the face models.)
$(WAV2LIP_FIXTURES)/talking.mp4: scripts/test-clips.sh tests/fixtures/astronaut.png | models
	bash scripts/test-clips.sh $(WAV2LIP_FIXTURES)

# Speed and load-time figures, generator and audio: natively (CPU), then in
# Chromium; the picture-quality settings' PSNR; memory over jobs back to back;
# live mode's latency and rate.
bench: native wasm js $(WAV2LIP_FIXTURES)/formula7-released-size.pth $(WAV2LIP_FIXTURES)/talking.mp4
	$(CARGO_TARGET_DIR)/release/wav2lip bench --device cpu
	$(CARGO_TARGET_DIR)/release/wav2lip bench audio
	bash scripts/sr-models.sh
	$(CARGO_TARGET_DIR)/release/wav2lip bench enhance
	node tests/bench/browser.mjs $(WAV2LIP_FIXTURES)/formula7-released-size.pth
	node tests/bench/audio.mjs
	node tests/bench/quality.mjs
	node tests/bench/soak.mjs
	node tests/bench/live.mjs

$(WAV2LIP_FIXTURES)/formula7-released-size.pth:
	mkdir -p $(WAV2LIP_FIXTURES)
	cargo run --locked -q -p wav2lip -- formula-checkpoint --released-size -o $@

# Every parser of a user's bytes under libFuzzer (checkpoint containers,
# pickle, TFLite, .npy, WAV): each up to FUZZ_RUNS executions or FUZZ_SECONDS
# (default 10 million or 30 minutes). Needs cargo-fuzz and a nightly
# toolchain, which scripts/fuzz.sh installs: a developer's tool, not CI's.
fuzz: setup
	bash scripts/fuzz.sh

clean:
	rm -rf www/pkg www/lib dist
