// Live mode on the page: the face from the camera (or the photo or video
// chosen above, in a loop) speaks what the microphone hears (or the voice
// chosen above, played as it goes), frame by frame, as it happens.
//
// Time is the sound's: seconds from the first sample the audio worklet
// (live-sound.js) heard. Camera frames are stamped on that clock and wait
// here until their 0.2 s of sound has reached the worker
// (live-session.js), which says how far its sound reaches ({ready}) and,
// by counting the frames it has taken, whether it is idle: then the newest
// frame it can make (by its word, or by a guess from it that the worker
// makes good by waiting) goes, and older ones are dropped. One frame is
// with the worker at a time and nothing queues, so memory stays flat and
// the latency stays bounded (the sound a frame needs, a camera frame, one
// frame's making, the passing) however much slower than the camera the
// machine is; the latency, its parts and the achieved rate are shown.
//
// Frames stay here until chosen: handing each of them to the worker (to
// choose there) cost its thread so much that messages piled up behind
// them, seconds of them.

/** Camera frames older than this (seconds) behind the newest are dropped unseen. */
const KEEP_FRAMES = 1;
/** Frames larger than this (longest side) are scaled down first: live is about keeping up. */
const MAX_SIDE = 1280;
/** The camera size asked for: enough for the face, little to carry. */
const CAMERA = [640, 480];
/** A photo is shown this many times a second. */
const PHOTO_FPS = 25;

/** Seconds to wait for the browser to start sound before saying why it may not. */
const SOUND_WAIT = 5;

/**
 * Resolves once `audio` runs: live mode keeps time by the sound card.
 * Firefox keeps a context suspended, and `resume()` unsettled, where there
 * is no sound output (no device, no sound server): said, not waited on.
 */
async function soundRunning(audio) {
  if (audio.state === 'running') return;
  const timer = new Promise((done) => setTimeout(done, SOUND_WAIT * 1000));
  await Promise.race([audio.resume().catch(() => {}), timer]);
  if (audio.state !== 'running') {
    throw new Error(`The browser did not start sound for this page within ${SOUND_WAIT} s. Live mode keeps time by the sound card, so it needs a sound output: connect or turn on speakers or headphones (on Linux, a running PulseAudio or PipeWire), then press Start again.`);
  }
}

/** What to tell the person when the camera or microphone cannot be had. */
function refusal(error, what) {
  if (error.name === 'NotAllowedError' || error.name === 'SecurityError') {
    return `The ${what} ${what.includes(' and ') ? 'were' : 'was'} not allowed. Allow ${what.includes(' and ') ? 'them' : 'it'} for this page (the icon in the address bar), then press Start again; or use the video or photo and the voice chosen above instead.`;
  }
  if (error.name === 'NotFoundError' || error.name === 'OverconstrainedError') {
    return `No ${what} was found on this machine. Connect one and press Start again, or use the video or photo and the voice chosen above instead.`;
  }
  if (error.name === 'NotReadableError') {
    return `The ${what} is in use by another program or tab. Close it there and press Start again.`;
  }
  return `The ${what} could not be started (${error.message}).`;
}

/**
 * The live clock on the page: live seconds at a `performance.now()` time.
 * Each piece of sound arrives a little after it was heard; the earliest
 * arrival for its length is the best guess of when sound was captured
 * (allowed to drift by 0.5 ms a second: the sound card's clock is not the
 * page's).
 */
class Clock {
  #offset = Infinity;
  #at = 0;

  heard(seconds) {
    const now = performance.now() / 1000;
    this.#offset = Math.min(this.#offset + 0.0005 * (now - this.#at), now - seconds);
    this.#at = now;
  }

  get started() {
    return Number.isFinite(this.#offset);
  }

  /** Live time of `performance.now()`-time `ms`. */
  at(ms) {
    return ms / 1000 - this.#offset;
  }
}

export class Live {
  #core;
  #view;
  #onStats;
  #session = null;

  /**
   * `core` is the page's Core (bridge.js); frames are drawn on `view` (a
   * canvas); `onStats({latency, parts, fps, dropped, made, detectEvery, compute})`
   * hears the figures a few times a second (`parts`: the latency's seconds
   * waiting, making the frame, and passing it around).
   */
  constructor(core, view, onStats) {
    this.#core = core;
    this.#view = view;
    this.#onStats = onStats;
  }

  get running() {
    return this.#session !== null;
  }

  /**
   * Start: `face` is 'camera' or a File (photo or video), `voice`
   * 'microphone' or a File; `options`, `label` and `quality` as a job's;
   * `camera` the size to ask the camera for ([width, height]).
   * Resolves once frames are being made; rejects with a sentence to show.
   * `ended(error)` hears when it stops by itself (an error); `step(text)`
   * what starting waits for.
   */
  async start({ face, voice, options, label, quality, camera }, ended, step = () => {}) {
    if (this.#session) throw new Error('live mode is already on');
    const parts = { stopped: false, tracks: [], urls: [] };
    try {
      await this.#open(parts, face, voice, camera, step);
      this.#session = parts;
      this.#run(parts, { options, label, quality }, ended);
    } catch (error) {
      this.#close(parts);
      throw error;
    }
  }

  async #open(parts, face, voice, [cameraWidth, cameraHeight] = CAMERA, step) {
    const camera = face === 'camera';
    const microphone = voice === 'microphone';
    if (camera || microphone) {
      const what = [camera && 'camera', microphone && 'microphone'].filter(Boolean).join(' and ');
      if (!navigator.mediaDevices?.getUserMedia) throw new Error(`This browser gives pages no ${what} here (it needs a secure page: https or localhost).`);
      step(`Starting: waiting for the ${what} (if the browser asks, allow ${what.includes(' and ') ? 'them' : 'it'} for this page)…`);
      try {
        parts.stream = await navigator.mediaDevices.getUserMedia({
          video: camera && { width: { ideal: cameraWidth }, height: { ideal: cameraHeight }, frameRate: { ideal: 30 } },
          audio: microphone && { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
        });
      } catch (error) {
        throw new Error(refusal(error, what));
      }
      parts.tracks = parts.stream.getTracks();
    }

    // The sound: into the worklet; a chosen voice is also played, delayed
    // by the latency, so that what is heard goes with what is seen.
    step('Starting: the sound…');
    const audio = new AudioContext({ latencyHint: 'interactive' });
    parts.audio = audio;
    await soundRunning(audio);
    await audio.audioWorklet.addModule(new URL('./live-sound.js', import.meta.url));
    const ears = new AudioWorkletNode(audio, 'live-sound', { numberOfInputs: 1, numberOfOutputs: 1, channelCount: 1, channelCountMode: 'explicit' });
    parts.ears = ears;
    // Its output is silence; connected, the node is sure to be run.
    ears.connect(audio.destination);
    if (microphone) {
      audio.createMediaStreamSource(new MediaStream(parts.stream.getAudioTracks())).connect(ears);
    } else {
      const player = Object.assign(document.createElement('audio'), { loop: true, src: this.#url(parts, voice) });
      const source = audio.createMediaElementSource(player);
      parts.delay = audio.createDelay(5);
      source.connect(ears);
      source.connect(parts.delay).connect(audio.destination);
      parts.player = player;
      await player.play().catch((error) => {
        throw new Error(`${voice.name} cannot be played here (${error.message})`);
      });
    }

    // The face: a video element (camera or file, looped) or a photo.
    if (camera || !face.type.startsWith('image/')) {
      const video = Object.assign(document.createElement('video'), { muted: true, playsInline: true, loop: !camera });
      if (camera) video.srcObject = new MediaStream(parts.stream.getVideoTracks());
      else video.src = this.#url(parts, face);
      parts.video = video;
      await video.play().catch((error) => {
        throw new Error(`${camera ? 'the camera' : face.name} cannot be shown here (${error.message})`);
      });
      parts.size = fit(video.videoWidth, video.videoHeight);
    } else {
      parts.photo = await createImageBitmap(face, { imageOrientation: 'from-image' }).catch(() => {
        throw new Error(`${face.name} cannot be read as a picture`);
      });
      parts.size = fit(parts.photo.width, parts.photo.height);
    }
  }

  #url(parts, file) {
    const url = URL.createObjectURL(file);
    parts.urls.push(url);
    return url;
  }

  async #run(parts, { options, label, quality }, ended) {
    const clock = new Clock();
    const frames = new MessageChannel();
    const sound = new MessageChannel();
    parts.port = frames.port1;
    parts.ears.port.postMessage({ worker: sound.port1 }, [sound.port1]);
    parts.ears.port.onmessage = ({ data: { heard } }) => clock.heard(heard / parts.audio.sampleRate);

    // Camera frames waiting for their sound, oldest first.
    const waiting = [];
    // How far the worker's sound reaches: its word, and the page's guess.
    // Its word comes late after a frame (the sound that came meanwhile is
    // still being taken in); the guess is now less the least gap seen
    // between its word and now (allowed to grow by 1 ms a second). A frame
    // sent on the guess waits there for the rest of its sound.
    let ready = -1;
    let gap = Infinity;
    let gapAt = 0;
    const reach = () => Math.max(ready, clock.at(performance.now()) - gap);
    // Frames sent, and whether the worker has taken them all and is idle.
    let sent = 0;
    let idle = false;
    const stats = { made: 0, dropped: 0, latency: null, parts: null, shown: [], detectEvery: null, compute: 0 };
    const drop = (count) => {
      for (const { bitmap } of waiting.splice(0, count)) bitmap.close();
      stats.dropped += count;
    };
    const send = () => {
      if (!idle || parts.stopped) return;
      // The newest frame whose sound is in; the ones before it are dropped.
      let k = -1;
      const until = reach();
      for (let i = 0; i < waiting.length && waiting[i].t <= until; i++) k = i;
      if (k < 0) return;
      drop(k);
      const { bitmap, t } = waiting.shift();
      idle = false;
      sent += 1;
      parts.port.postMessage({ bitmap, t }, [bitmap]);
    };
    // Frames go in time order (the worker forgets the sound before each
    // frame it makes): one that comes late is dropped.
    let latest = -Infinity;
    const grab = async (source, ms) => {
      if (parts.stopped || !clock.started) return;
      const t = clock.at(ms);
      if (t < 0) return;
      const bitmap = await createImageBitmap(source, { resizeWidth: parts.size.width, resizeHeight: parts.size.height });
      if (parts.stopped || t <= latest) return bitmap.close();
      latest = t;
      waiting.push({ bitmap, t });
      const old = waiting.findIndex((frame) => frame.t >= t - KEEP_FRAMES);
      if (old > 0) drop(old);
      send();
    };
    if (parts.video) {
      const next = () => parts.video.requestVideoFrameCallback((now, meta) => {
        if (parts.stopped) return;
        // A camera says when it took the frame; a file's frame is shown now.
        grab(parts.video, meta.captureTime ?? now);
        next();
      });
      next();
    } else {
      parts.timer = setInterval(() => grab(parts.photo, performance.now()), 1000 / PHOTO_FPS);
    }

    const context = this.#view.getContext('2d');
    let told = 0;
    parts.port.onmessage = ({ data }) => {
      if (data.ready !== undefined) {
        ready = data.ready;
        const now = performance.now();
        gap = Math.min(gap + 0.001 * (now - gapAt) / 1000, clock.at(now) - ready);
        gapAt = now;
        // Word of the sound sent before the last frame reached the worker
        // does not make it idle.
        idle = data.taken === sent;
        send();
      } else if (data.frame) {
        const { frame, width, height, t, ms, chosen, timings } = data;
        if (this.#view.width !== width || this.#view.height !== height) Object.assign(this.#view, { width, height });
        context.putImageData(new ImageData(new Uint8ClampedArray(frame), width, height), 0, 0);
        const now = performance.now();
        // Sound captured at t → its frame on screen now; in parts: until
        // the worker took it up (waiting for the sound it needs, then for
        // the worker), the making, and the rest (handing it over and back,
        // reading it in, drawing). `chosen` is a wall-clock time (ms): the
        // worker's clock starts elsewhere.
        stats.latency = clock.at(now) - t;
        const waited = clock.at(chosen - performance.timeOrigin) - t;
        stats.parts = { waited, making: ms / 1000, passing: Math.max(0, stats.latency - waited - ms / 1000) };
        stats.made += 1;
        stats.compute += ms;
        stats.shown.push(now);
        while (stats.shown[0] < now - 2000) stats.shown.shift();
        stats.detectEvery = timings.detections ? stats.made / timings.detections : null;
        // The voice played from a file waits as long as its frames do.
        parts.delay?.delayTime.setTargetAtTime(Math.min(5, stats.latency), parts.audio.currentTime, 0.5);
        if (now - told > 250) {
          told = now;
          const span = (stats.shown.at(-1) - stats.shown[0]) / 1000;
          this.#onStats({ latency: stats.latency, parts: stats.parts, fps: span > 0 ? (stats.shown.length - 1) / span : 0, made: stats.made, dropped: stats.dropped, detectEvery: stats.detectEvery, compute: stats.compute / stats.made });
        }
      } else if (data.recorded) {
        parts.recorded?.resolve(data.recorded);
      } else if (data.recordFailed) {
        // Live mode goes on; the recording is what is lost, and said so.
        parts.recordFailed = new Error(data.recordFailed);
        parts.recorded?.reject(parts.recordFailed);
      }
    };

    const { width, height } = parts.size;
    try {
      await this.#core.call('live', { frames: frames.port2, sound: sound.port2, width, height, sampleRate: parts.audio.sampleRate, options, label, quality }, [frames.port2, sound.port2]);
      if (!parts.stopped) ended?.(null);
    } catch (error) {
      ended?.(error);
    } finally {
      parts.recorded?.reject(new Error('live mode ended before the recording was saved'));
      for (const { bitmap } of waiting.splice(0)) bitmap.close();
      if (this.#session === parts) this.#session = null;
      this.#close(parts);
    }
  }

  /** Start recording; `stopRecording` resolves to the file. */
  record() {
    if (!this.#session) throw new Error('live mode is not on');
    this.#session.recordFailed = null;
    this.#session.port.postMessage({ record: true });
  }

  /** Resolves to the recording: `{file, name, mimeType, frames, seconds}`. */
  stopRecording() {
    const parts = this.#session;
    if (!parts) return Promise.reject(new Error('live mode is not on'));
    if (parts.recordFailed) return Promise.reject(parts.recordFailed);
    const saved = new Promise((resolve, reject) => (parts.recorded = { resolve, reject }));
    parts.port.postMessage({ record: false });
    return saved;
  }

  /** Stop live mode (a recording in progress is saved first by the caller, or lost). */
  stop() {
    const parts = this.#session;
    if (!parts) return;
    parts.stopped = true;
    parts.port?.postMessage({ stop: true });
  }

  #close(parts) {
    parts.stopped = true;
    clearInterval(parts.timer);
    parts.ears?.port.postMessage({ stop: true });
    parts.player?.pause();
    parts.video?.pause();
    parts.photo?.close();
    for (const track of parts.tracks) track.stop();
    parts.audio?.close().catch(() => {});
    for (const url of parts.urls) URL.revokeObjectURL(url);
  }
}

/** A frame size no larger than MAX_SIDE on its longest side, even numbers (encoders want them). */
function fit(width, height) {
  if (!width || !height) throw new Error('the face source has no picture');
  const scale = Math.min(1, MAX_SIDE / Math.max(width, height));
  return { width: 2 * Math.round((width * scale) / 2), height: 2 * Math.round((height * scale) / 2) };
}
