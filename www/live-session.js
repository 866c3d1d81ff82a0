// Live mode in the worker: the sound comes from the page's audio worklet
// (www/live-sound.js) on one port, frames from the page (www/live.js) on
// another. Each frame goes through the core (`liveFrame`) as soon as its
// 0.2 s of sound is in and goes back to the page; while recording, it is
// also encoded with the sound from the same moment on, into a file like a
// job's (same label, same metadata).
//
// The page holds the camera's frames and sends one only when told this
// worker is idle and how far the sound reaches ({ready, taken}): the
// newest frame that can be made, the older ones dropped. Nothing queues
// here.
import { core } from './core.js';
import { Output, VideoSample, VideoSampleSource } from './lib/mediabunny.js';
import { DISCLOSURE, QUALITIES, chooseFormat, drawLabel, outputFile } from './lipsync.js';
import { encodableSound, soundEncoder } from './soundtrack.js';

/** Seconds of sound kept back for a recording's start (it starts at a frame made ~0.3 s after its moment). */
const KEEP_SOUND = 10;

/**
 * Run live mode until the page says stop: frames of `width`×`height`,
 * mono sound at `sampleRate`; `options` are a job's framing options;
 * `label` stamps "AI-generated" on frames. Resolves to the frames made.
 */
export async function live({ frames, sound, width, height, sampleRate, options = {}, label = true, quality = 'high' }) {
  const badge = label ? drawLabel(Math.round(height / Math.max(1, options.resizeFactor ?? 1))) : null;
  const size = core.liveStart(
    { options, width, height, sampleRate, channels: 1 },
    badge?.pixels ?? new Uint8Array(), badge?.width ?? 0, badge?.height ?? 0,
  );
  const heard = new SoundKept(sampleRate);
  const reader = new OffscreenCanvas(width, height).getContext('2d', { willReadFrequently: true });
  let ready = -1;
  let busy = false;
  let made = 0;
  // Frames taken from the page: it counts what it sent against this.
  let taken = 0;
  let recording = null;
  let stopped = false;
  let finish;
  const finished = new Promise((resolve, reject) => (finish = { resolve, reject }));
  const fail = (error) => finish.reject(error instanceof Error ? error : new Error(String(error)));

  // Tell the page when a frame can be sent: idle, and how far the sound reaches.
  let offered = -1;
  const offer = () => {
    if (busy || ready < 0 || ready === offered) return;
    offered = ready;
    frames.postMessage({ ready, taken });
  };
  // After a frame, the page is told once the sound that came while it was
  // made has been taken in (else its word on the sound is a frame's making
  // out of date): a message to itself queues behind that sound.
  const after = new MessageChannel();
  after.port1.onmessage = () => {
    busy = false;
    offered = -1;
    offer();
  };

  // A frame sent on the page's guess of the sound waits for the rest here.
  let waiting = null;
  const soundFor = (t) => (ready >= t || stopped ? null : new Promise((resolve) => (waiting = { t, resolve })));

  sound.onmessage = ({ data: piece }) => {
    try {
      ready = core.liveHear(piece);
      heard.push(piece);
      if (waiting && ready >= waiting.t) {
        waiting.resolve();
        waiting = null;
      }
      offer();
    } catch (error) {
      fail(error);
    }
  };

  // `busy` was set when the frame arrived (frames.onmessage).
  const frame = async ({ bitmap, t }) => {
    await soundFor(t);
    if (stopped) return bitmap.close();
    // A wall-clock time, which the page can read on its own clock.
    const chosen = performance.timeOrigin + performance.now();
    reader.drawImage(bitmap, 0, 0, width, height);
    bitmap.close();
    const pixels = new Uint8Array(reader.getImageData(0, 0, width, height).data.buffer);
    const started = performance.now();
    const out = await core.liveFrame(pixels, t);
    const ms = performance.now() - started;
    made += 1;
    // The page gets a copy; the recording encodes this one.
    const shown = out.slice();
    frames.postMessage({ frame: shown.buffer, width: size.width, height: size.height, t, ms, chosen, timings: core.liveTimings() }, [shown.buffer]);
    await recording?.frame(out, t, heard).catch(recordFailed);
    after.port2.postMessage(null);
  };

  // A recording that fails is dropped and the page told; live mode goes on.
  const recordFailed = async (error) => {
    const failed = recording;
    recording = null;
    await failed?.cancel();
    frames.postMessage({ recordFailed: `the recording failed: ${error.message}` });
  };

  // One message at a time, in order: a recording starts or ends between frames.
  let chain = Promise.resolve();
  frames.onmessage = ({ data }) => {
    // Stopping ends a wait for sound at once (no more may come).
    if (data.stop) {
      stopped = true;
      waiting?.resolve();
    }
    if (data.bitmap) {
      taken += 1;
      busy = true;
    }
    chain = chain.then(async () => {
      if (data.bitmap) await frame(data);
      else if (data.record === true && !recording) recording = await Recording.open(size, sampleRate, quality).catch(recordFailed) ?? null;
      else if (data.record === false && recording) {
        const file = await recording.close(heard).catch(recordFailed);
        recording = null;
        if (file) frames.postMessage({ recorded: file });
      } else if (data.stop) finish.resolve();
    }).catch(fail);
  };

  try {
    await finished;
    return { frames: made };
  } finally {
    sound.onmessage = null;
    frames.onmessage = null;
    await recording?.cancel();
    core.liveStop();
    frames.close();
    sound.close();
    after.port1.close();
  }
}

/** The recent sound (mono f32), by absolute sample index: what a recording may still need. */
class SoundKept {
  #pieces = [];
  /** Samples heard so far. */
  end = 0;

  constructor(rate) {
    this.rate = rate;
  }

  push(piece) {
    this.#pieces.push({ start: this.end, samples: piece });
    this.end += piece.length;
    // Forget what is older than KEEP_SOUND seconds.
    while (this.#pieces.length > 1 && this.#pieces[1].start < this.end - KEEP_SOUND * this.rate) this.#pieces.shift();
  }

  /** Samples `from`..`to` (absolute), as far as they are kept and heard. */
  slice(from, to) {
    to = Math.min(to, this.end);
    const out = new Float32Array(Math.max(0, to - from));
    for (const { start, samples } of this.#pieces) {
      const a = Math.max(from, start);
      const b = Math.min(to, start + samples.length);
      if (a < b) out.set(samples.subarray(a - start, b - start), a - from);
    }
    return out;
  }
}

/**
 * A live recording: frames at their live times and the sound from the first
 * frame's moment on, both timed from that moment, so that what is seen and
 * heard stays together whatever the latency; into a file like a job's.
 */
class Recording {
  static async open(size, rate, quality) {
    const picture = (QUALITIES[quality] ?? QUALITIES.high)();
    const format = await chooseFormat(size.width, size.height, picture);
    const form = await encodableSound(format.container, 1, rate);
    if (!form) throw new Error(`this browser cannot encode sound for ${format.container.toUpperCase()}; try Chrome or Edge`);
    const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-');
    const name = `live-${stamp}.${format.extension}`;
    const destination = await outputFile(name, 'live');
    const output = new Output({ format: format.format(), target: destination.target });
    const video = new VideoSampleSource({ codec: format.video, quality: picture, keyFrameInterval: 2 });
    // Remixed by the core where the encoder wants another rate or channels than the microphone's.
    const sound = soundEncoder({ rate, channels: 1 }, form);
    output.addVideoTrack(video);
    output.addAudioTrack(sound.source);
    output.setMetadataTags({ comment: DISCLOSURE, description: DISCLOSURE });
    await output.start();
    return new Recording({ size, rate, format, name, destination, output, video, sound });
  }

  #first = null;
  #last = null;
  #frames = 0;
  /** Next sound sample to encode (absolute index). */
  #soundAt = 0;

  constructor(parts) {
    Object.assign(this, parts);
  }

  /** A finished frame (RGBA) made for live time `t`. */
  async frame(rgba, t, heard) {
    if (this.#first === null) {
      this.#first = t;
      this.#soundAt = Math.round(t * this.rate);
    }
    // Until the next frame comes: a frame's length is not known when it is made.
    const sample = new VideoSample(rgba, { format: 'RGBA', codedWidth: this.size.width, codedHeight: this.size.height, timestamp: t - this.#first, duration: 1 / 25 });
    await this.video.add(sample);
    sample.close();
    this.#last = t;
    this.#frames += 1;
    // The sound to this frame's end (it has arrived: the frame needed the
    // 0.2 s after it). The sound stops where the picture does.
    await this.#soundUntil(heard, t + 1 / 25);
  }

  /** Encode the sound from where it stopped to live time `until`. */
  async #soundUntil(heard, until) {
    const end = Math.min(heard.end, Math.round(until * this.rate));
    if (end <= this.#soundAt) return;
    const samples = heard.slice(this.#soundAt, end);
    this.#soundAt = end;
    await this.sound.push(samples);
  }

  /** Finish the file: sound to the end of the last frame. Resolves to {file, name, mimeType, frames, seconds}. */
  async close(heard) {
    if (this.#first === null) {
      await this.cancel();
      throw new Error('the recording ended before its first frame was made; record for longer');
    }
    const end = this.#last + 1 / 25;
    await this.#soundUntil(heard, end);
    await this.sound.finish();
    await this.output.finalize();
    const file = await this.destination.file();
    return { file, name: this.name, mimeType: this.format.mimeType, frames: this.#frames, seconds: end - this.#first };
  }

  async cancel() {
    await this.output.cancel().catch(() => {});
    await this.destination.remove();
  }
}
