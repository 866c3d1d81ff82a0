// Hosts the wasm core. Messages {id, method, args} in, {id, result | error} out,
// handled one at a time: the core owns one device and one job.
import { core, instantiate, startThreads } from './core.js';
import { ALL_FORMATS, AudioSampleSink, BlobSource, Input, VideoSampleSink } from './lib/mediabunny.js';
import { Cancelled, clearOutputs, lipSync, openFaceInput } from './lipsync.js';
import { live } from './live-session.js';
import { FACE_TRACK, VOICE_TRACK, checkSameFormat, decodableTrack, isImage, photoPixels, uprightPixels } from './media.js';
import { Helpers } from './helpers.js';
import { forget, forgetAll, keptModels, loadCheckpoint, loadKept } from './models.js';

// The core: the build this engine and page run best (core.js), with a
// thread per spare core where the CPU path runs on shared memory. Loaded by
// the first call, for the backend `start` asks for (else the automatic
// choice); `start({simd: 'simd128'})` asks for the baseline SIMD build
// (the page's `?simd=simd128`, for tests).
let instance = null;
let ready = null;
function load({ backend = 'auto', simd } = {}) {
  ready ??= (async () => {
    const adapter = await adapterInfo();
    instance = { ...(await instantiate(simd, (core) => core.chooseBackend(adapter, backend))), adapter };
    if (instance.shared) await startThreads(instance, () => core.threads());
    return instance;
  })();
  return ready;
}

/** The WebGPU adapter the browser would give us, as a plain object, or null. */
async function adapterInfo() {
  if (!navigator.gpu) return null;
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) return null;
  const info = adapter.info ?? {};
  return {
    vendor: info.vendor ?? '',
    architecture: info.architecture ?? '',
    device: info.device ?? '',
    description: info.description ?? '',
    // Moved from GPUAdapter to GPUAdapterInfo in 2025; read both.
    isFallbackAdapter: Boolean(info.isFallbackAdapter ?? adapter.isFallbackAdapter),
  };
}

/**
 * Decode the sound of an audio or video file and hand it to the core piece by
 * piece (mediabunny demuxes, WebCodecs decodes): an hour of audio never sits
 * in memory decoded.
 */
async function loadVoice(file) {
  const started = performance.now();
  const input = new Input({ source: new BlobSource(file), formats: ALL_FORMATS });
  try {
    const track = await decodableTrack(input, 'audio', VOICE_TRACK);
    // How long it is, so the core makes room for the whole spectrogram at
    // once: what the container says, else its last packet's end (Ogg keeps
    // no duration; mediabunny then reads its last page, not the whole file).
    const claimed = (await track.getDurationFromMetadata().catch(() => null)) ?? (await track.computeDuration().catch(() => null));
    let format = null;
    for await (const sample of new AudioSampleSink(track).samples()) {
      try {
        // Decoders may output another rate than the container says (HE-AAC,
        // Opus): the first decoded piece is the truth.
        if (!format) {
          format = { rate: sample.sampleRate, channels: sample.numberOfChannels };
          core.voiceStart(format.rate, format.channels, claimed ?? undefined);
        } else {
          checkSameFormat(format, sample);
        }
        const interleaved = new Float32Array(sample.numberOfFrames * sample.numberOfChannels);
        sample.copyTo(interleaved, { planeIndex: 0, format: 'f32' });
        core.voicePush(interleaved);
      } finally {
        sample.close();
      }
    }
    if (!format) throw new Error('its sound track is empty');
    const report = core.voiceFinish();
    return { ...report, name: file.name, codec: track.codec, seconds: (performance.now() - started) / 1000, duration: report.seconds };
  } finally {
    input.dispose?.();
  }
}

/** The first picture of a photo or a video (rotation applied): `{pixels, width, height, kind}`. */
async function firstPicture(file) {
  if (isImage(file)) return { ...(await photoPixels(file)), kind: 'photo' };
  const input = new Input({ source: new BlobSource(file), formats: ALL_FORMATS });
  try {
    const track = await decodableTrack(input, 'video', FACE_TRACK);
    for await (const sample of new VideoSampleSink(track).samples()) {
      return { ...(await uprightPixels(sample)), kind: 'video' };
    }
    throw new Error('its video track has no frames');
  } finally {
    input.dispose?.();
  }
}

/**
 * Which way the face looks through a photo or video, before a run: the
 * pose of the face nearest `point` (the one clicked; else the best) every
 * `step` seconds (0.2 s, longer for videos over 2 minutes: at most 600
 * looks). Resolves to {kind, step, duration, samples: [{t, yaw, pitch}]}
 * (no yaw where no face was seen).
 */
async function scanPoses(file, point) {
  await ensureDetector();
  const face = await openFaceInput(file);
  try {
    const duration = face.count / face.fps;
    const every = Math.max(1, Math.round(face.fps * Math.max(0.2, duration / 600)));
    const sources = [];
    for (let k = 0; k < face.count; k += every) sources.push(k);
    const samples = [];
    let k = 0;
    // The face followed: after the first search, each sample looks only
    // around where it was (a search of a large frame is tens of looks).
    let last;
    for await (const pixels of face.frames(sources)) {
      const faces = core.faceMeshes(pixels, face.width, face.height, last ? new Float32Array(last) : undefined);
      const away = ({ box: [x1, y1, x2, y2] }) => (point ? Math.hypot((x1 + x2) / 2 - point[0], (y1 + y2) / 2 - point[1]) : 0);
      const near = faces.toSorted((a, b) => away(a) - away(b))[0];
      last = near?.box;
      samples.push({ t: sources[k] / face.fps, ...(near && { yaw: near.pose.yaw, pitch: near.pose.pitch }) });
      k += 1;
    }
    return { kind: face.kind, step: every / face.fps, duration, samples };
  } finally {
    face.dispose();
  }
}

/** The core's `call` (a face finder) on one RGBA frame: its faces and its time (seconds). */
async function timedFaces(call, pixels, width, height) {
  await ensureDetector();
  const started = performance.now();
  const faces = core[call](pixels, width, height);
  return { faces, seconds: (performance.now() - started) / 1000 };
}

/** The face input's first picture and the faces in it, for the page to show. */
async function openFace(file) {
  const { pixels, width, height, kind } = await firstPicture(file);
  await ensureDetector();
  const faces = core.detectFaces(pixels, width, height);
  // The page draws it: a bitmap moves there rather than being copied.
  const picture = await createImageBitmap(new ImageData(new Uint8ClampedArray(pixels.buffer), width, height));
  // Over 4K a job shrinks the frames: the page chooses that for the person.
  return { name: file.name, kind, width, height, faces, picture, shrink: core.shrinkNeeded(width, height) };
}

// The face models (BlazeFace; Face Mesh and its canonical face), from
// MediaPipe's npm packages, copied next to the app by `make models`, loaded
// on first use.
let detector = null;
function ensureDetector() {
  detector ??= (async () => {
    const read = async (name) => {
      const response = await fetch(new URL(`./lib/${name}`, import.meta.url));
      if (!response.ok) throw new Error(`the face models' file ${name} is missing (HTTP ${response.status}); reinstall the app`);
      return new Uint8Array(await response.arrayBuffer());
    };
    const [fullRange, shortRange, mesh, geometry] = await Promise.all(
      ['face_detection_full_range.tflite', 'face_detection_short_range.tflite', 'face_landmark.tflite', 'geometry_pipeline_metadata_landmarks.binarypb'].map(read),
    );
    core.loadDetector(fullRange, shortRange);
    core.loadMesh(mesh, geometry);
  })().catch((error) => {
    detector = null;
    throw error;
  });
  return detector;
}

// The generator's batch: on the GPU the job finds it (from 2, doubling
// while frames get cheaper: where that stops depends on the GPU); on the
// CPU, two frames for each thread or worker computing it.
const batchSize = () => (backend === 'webgpu' ? { batch: 2, tune: true } : { batch: Math.max(4, 2 * cpuWorkers()), tune: false });
let backend = 'cpu';
// Spare cores for the CPU path where there are no threads (no shared
// memory); a helper itself starts none.
let helpers = null;
/** Threads or workers the CPU path computes on, this one included. */
const cpuWorkers = () => core.threads() + (helpers?.count ?? 0);

// The kind of the model loaded (plain, GAN), to load it again on the CPU
// if the GPU goes away.
let loadedKind = null;

/** A model just loaded: on the CPU path, helpers load it too. */
function loaded(report) {
  if (report) loadedKind = report.kind ?? null;
  if (helpers && backend === 'cpu' && report?.cached) helpers.start(report.kind);
  return report;
}

/**
 * The GPU failed mid-job (its device lost: a driver reset, the GPU process
 * gone): move to the CPU path and load the model there (from its kept
 * copy), so the job can go on. Returns the new batch size and what to tell
 * the person.
 */
async function fallBackToCpu(failure) {
  const report = await core.initBackend(null, 'cpu');
  backend = report.backend;
  const model = loadedKind && (await loadKept(loadedKind, false));
  if (!model) throw new Error(`${failure.message}, and the model could not be loaded again on the CPU; choose the checkpoint again and restart`);
  loaded(model);
  await helpers?.ready();
  return { batch: batchSize().batch, notice: `The GPU stopped working (${failure.message}); the rest of the job runs on the CPU, more slowly. No frame is lost.` };
}

// Set by a 'cancel' message, which is handled at once (not queued behind
// the job it cancels).
let cancelRequested = false;

const methods = {
  async start({ backend: preference = 'auto', helper = false }) {
    // The adapter asked for when the core was loaded.
    const report = await core.initBackend(instance.adapter, preference);
    backend = report.backend;
    // Helpers run where there are no threads (the WebGPU build, like this worker).
    helpers = helper || instance.shared ? null : new Helpers(core);
    return { ...report, simd: instance.simd, threads: core.threads() };
  },
  async checkConvolution({ backend = 'active' }) {
    return core.checkConvolution(backend);
  },
  /** A checkpoint the user chose: loaded, and kept for next time under its kind (plain or GAN). */
  async loadCheckpoint({ file }) {
    await helpers?.stop();
    return loaded(await loadCheckpoint(file));
  },
  /** The kept model of `kind` (default: the one used last; `remember` it as that), or null. */
  async loadCachedModel({ kind, remember = true } = {}) {
    await helpers?.stop();
    return loaded(await loadKept(kind, remember));
  },
  keptModels: () => keptModels(),
  /** Where the last job's time went: ms by stage, summed over its frames. */
  jobTimings: () => core.jobTimings(),
  /** Threads or workers the CPU path computes on (this one, its threads or its helpers), once the helpers have started. */
  async workers() {
    await helpers?.ready();
    return backend === 'cpu' ? cpuWorkers() : 0;
  },
  /** Remove every kept model and video from OPFS, and unload the model. */
  async clearStorage() {
    await helpers?.stop();
    await forgetAll();
    await clearOutputs();
    core.unloadModel();
  },
  /** Remove the kept copy of `kind`; the model in use is unloaded if it was that one. */
  async forgetModel({ kind, unload }) {
    if (unload) await helpers?.stop();
    await forget(kind);
    if (unload) core.unloadModel();
  },
  loadVoice: ({ file }) => loadVoice(file),
  /** A photo or video's first picture (an ImageBitmap) and its faces. */
  openFace: ({ file }) => openFace(file),
  /** Which way the face looks through the video ({step, duration, samples}). */
  scanPoses: ({ file, point }) => scanPoses(file, point),
  /** Faces in one RGBA frame ([{score, box, keypoints, crop}], best first), and the core's time for it (seconds). */
  detectFaces: ({ pixels, width, height }) => timedFaces('detectFaces', pixels, width, height),
  /** The same from one look at the whole frame, as MediaPipe's own solution looks (for its comparison). */
  detectFacesWhole: ({ pixels, width, height }) => timedFaces('detectFacesWhole', pixels, width, height),
  /** Faces in one RGBA frame with their meshes and poses ([{box, score, presence, landmarks, pose}]), and the core's time (seconds). */
  async faceMeshes({ pixels, width, height }) {
    await ensureDetector();
    const started = performance.now();
    const faces = core.faceMeshes(pixels, width, height);
    return { faces, seconds: (performance.now() - started) / 1000 };
  },
  /**
   * The whole job: `face` and `voice` files (the voice already loaded by
   * loadVoice), framing `options`, the visible `label` on or off, the
   * picture's `quality` (lipsync.js's QUALITIES). Resolves
   * to the finished file; progress arrives as {done, total, seconds}.
   */
  async lipSync({ face, voice, options, label, quality }, progress) {
    await ensureDetector();
    cancelRequested = false;
    return lipSync({ face, voice, options, label, quality, ...batchSize(), recover: fallBackToCpu }, progress, () => cancelRequested);
  },
  /**
   * Live mode until the page stops it (live-session.js): `frames` and
   * `sound` are ports from the page and its audio worklet; the frames'
   * size, the sound's rate, framing `options`, `label`, `quality` as a job's.
   */
  async live(args) {
    await ensureDetector();
    return live(args);
  },
  /** The current voice's mel spectrogram, [80, T] row-major. */
  voiceMel: () => core.voiceMel(),
  /** mel [B,1,80,16] and face [B,6,96,96] as Float32Arrays → [B,3,96,96]. */
  async generate({ mel, face, batch }) {
    const started = performance.now();
    const out = await core.generate(mel, face, batch);
    return { out, seconds: (performance.now() - started) / 1000 };
  },
};

let queue = Promise.resolve();

// Answered at once, even while a job runs (not queued behind it).
const immediate = {
  cancel() {
    cancelRequested = true;
    return null;
  },
  /** Test hook: lose the WebGPU device now, as a driver reset would. */
  loseGpu: () => core.testLoseGpu(),
  /** Bytes in use: the core's linear memory, its helpers' (CPU path) and this worker's JS heap (Chromium only). */
  async memory() {
    const { memory } = await load();
    // With threads, one memory holds the core and all its threads.
    return { wasm: memory.buffer.byteLength, helpers: (await helpers?.memory()) ?? 0, jsHeap: performance.memory?.usedJSHeapSize ?? null };
  },
};

self.onmessage = async ({ data: { id, method, args } }) => {
  if (immediate[method]) {
    self.postMessage({ id, result: await immediate[method](args) });
    return;
  }
  queue = queue.then(async () => {
    try {
      await load(method === 'start' ? args : undefined);
      const handler = methods[method];
      if (!handler) throw new Error(`the core has no method "${method}"`);
      const result = await handler(args, (progress) => self.postMessage({ id, progress }));
      // Pictures move to the page rather than being copied.
      self.postMessage({ id, result }, result?.picture ? [result.picture] : []);
    } catch (error) {
      self.postMessage({ id, error: error?.message ?? String(error), cancelled: error instanceof Cancelled });
    }
  });
};
