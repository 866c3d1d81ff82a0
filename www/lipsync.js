// One lip-sync job, in the worker: decode the face video frame by frame
// (mediabunny demuxes, WebCodecs decodes), hand each frame to the core's
// job, encode the finished frames and the voice (WebCodecs), and mux them
// into a file in the origin-private file system. Only a few frames are in
// memory at any time, whatever the video's length.
import { core } from './core.js';
import {
  ALL_FORMATS, BlobSource, Input, Mp4OutputFormat, Output, Quality, StreamTarget, BufferTarget, VideoSample,
  VideoSampleSink, VideoSampleSource, WebMOutputFormat, getFirstEncodableVideoCodec,
} from './lib/mediabunny.js';
import { FACE_TRACK, decodableTrack, isImage, photoPixels, uprightPixels } from './media.js';
import { openSoundtrack } from './soundtrack.js';

/** A photo is shown this many times a second in the output. */
const PHOTO_FPS = 25;

/** What the file says about itself: the authors asked that it be disclosed. */
export const DISCLOSURE = 'AI-generated: the lip movements were synthesised by Wav2Lip (Prajwal et al., 2020) in Wav2Lip studio.';

export class Cancelled extends Error {
  constructor() {
    super('lip sync was cancelled');
  }
}

/**
 * The face input as a stream of RGBA frames: `open` says its size, rate and
 * length; `frames(sources)` yields the frames at those indices, in order.
 */
export async function openFaceInput(file) {
  if (isImage(file)) {
    const { pixels, width, height } = await photoPixels(file);
    return {
      kind: 'photo', width, height, fps: PHOTO_FPS, count: 1,
      async *frames(sources) {
        for (let i = 0; i < sources.length; i++) yield pixels;
      },
      dispose() {},
    };
  }
  const input = new Input({ source: new BlobSource(file), formats: ALL_FORMATS });
  try {
    const track = await decodableTrack(input, 'video', FACE_TRACK);
    const stats = await track.computePacketStats();
    if (stats.packetCount === 0) throw new Error('its video track has no frames');
    const first = await track.getFirstTimestamp();
    // The rate the frames' timestamps lie on (mediabunny's estimate: not
    // fooled by packets an edit list trims, nor by dropped frames), or the
    // usual one nearest their median spacing for variable frame rate. A
    // single frame has no rate: show it like a photo.
    const { bestGuessFrameRate } = stats.packetCount > 1 ? await track.computeFrameRateMetrics() : {};
    const fps = bestGuessFrameRate > 0 ? bestGuessFrameRate : PHOTO_FPS;
    // Frames come upright (the track's rotation applied), as the page showed
    // them, each decoded frame closed as soon as its pixels are out
    // (`uprightPixels`).
    const sink = new VideoSampleSink(track);
    const width = track.displayWidth;
    const height = track.displayHeight;
    const count = stats.packetCount;
    return {
      kind: 'video', width, height, fps, count,
      async *frames(sources) {
        // Mid-frame times: the frame shown then is frame k, whatever the rounding.
        const times = sources.map((k) => first + (k + 0.5) / fps);
        let at = 0;
        for await (const sample of sink.samplesAtTimestamps(times)) {
          // Every time inside the video shows some frame; none means its
          // data ends early (an interrupted download or copy).
          if (!sample) {
            throw new Error(`the face video is damaged or incomplete: its pictures stop ${at ? `after ${(times[at] - first).toFixed(1)} s` : 'at the start'}, though it says it lasts ${(count / fps).toFixed(1)} s. Copy or export it again`);
          }
          at += 1;
          yield (await uprightPixels(sample)).pixels;
        }
      },
      dispose: () => input.dispose?.(),
    };
  } catch (error) {
    input.dispose?.();
    throw error;
  }
}

/** `work`, its error (if any) saying which file it was about. */
async function named(file, work) {
  try {
    return await work;
  } catch (error) {
    throw new Error(`${file.name}: ${error.message}`);
  }
}

/** The label's picture, sized for frames `height` pixels tall: RGBA bytes. */
export function drawLabel(height) {
  const size = Math.max(12, Math.round(height / 28));
  const text = 'AI-generated';
  const font = `600 ${size}px system-ui, "DejaVu Sans", sans-serif`;
  const measure = new OffscreenCanvas(1, 1).getContext('2d');
  measure.font = font;
  const pad = Math.round(size * 0.4);
  const width = Math.ceil(measure.measureText(text).width) + 2 * pad;
  const boxHeight = size + 2 * pad;
  const canvas = new OffscreenCanvas(width, boxHeight);
  const g = canvas.getContext('2d');
  g.fillStyle = 'rgba(0, 0, 0, 0.6)';
  g.beginPath();
  g.roundRect(0, 0, width, boxHeight, pad);
  g.fill();
  g.font = font;
  g.fillStyle = '#fff';
  g.textBaseline = 'middle';
  g.fillText(text, pad, boxHeight / 2);
  return { pixels: new Uint8Array(g.getImageData(0, 0, width, boxHeight).data.buffer), width, height: boxHeight };
}

/**
 * The picture's quality settings a person chooses from, on mediabunny's
 * quality scale (0–1 for its named levels; above 1 for more): a constant
 * quantizer where the encoder takes one, else a bitrate for the frame size
 * and rate (Chromium's H.264 encoder takes only a bitrate). What each gives
 * on the untouched part of the frame is measured by
 * `tests/bench/quality.mjs` (PSNR away from the face, size): the RGB → YUV
 * conversion of the re-encode caps it near 44 dB however high the rate.
 */
export const QUALITIES = {
  standard: () => new Quality('high'),
  high: () => new Quality({ quality: 1.15 }),
  'near-lossless': () => new Quality({ quality: 1.6 }),
};

/**
 * The video codec and container this browser can write at `width`×`height`:
 * H.264 in MP4 where it can, else VP9 or VP8 in WebM. (The sound is chosen
 * for the container afterwards, by `openSoundtrack`.)
 */
export async function chooseFormat(width, height, quality) {
  const video = await getFirstEncodableVideoCodec(['avc', 'vp9', 'vp8'], { width, height, quality });
  if (!video) throw new Error(`this browser cannot encode video at ${width}×${height}; try another browser (Chrome, Edge) or a smaller resize`);
  if (video === 'avc') return { video, container: 'mp4', extension: 'mp4', mimeType: 'video/mp4', format: () => new Mp4OutputFormat() };
  return { video, container: 'webm', extension: 'webm', mimeType: 'video/webm', format: () => new WebMOutputFormat() };
}

// Finished files live in OPFS so that a long video never sits in memory;
// only the latest of each kind is kept: a job's video, and a live
// recording (one never replaces the other).
const OUTPUT_DIRS = { job: 'output', live: 'live' };

/** Remove the kept videos (the page's links to them stop working). */
export async function clearOutputs() {
  const root = await navigator.storage.getDirectory();
  for (const name of Object.values(OUTPUT_DIRS)) {
    await root.removeEntry(name, { recursive: true }).catch((error) => {
      if (error.name !== 'NotFoundError') throw error;
    });
  }
}

/** A new file `name` for a job's video or a live recording (`kind`), replacing the last of that kind. */
export async function outputFile(name, kind = 'job') {
  try {
    const root = await navigator.storage.getDirectory();
    const dir = await root.getDirectoryHandle(OUTPUT_DIRS[kind], { create: true });
    for await (const old of dir.keys()) await dir.removeEntry(old).catch(() => {});
    const handle = await dir.getFileHandle(name, { create: true });
    const writable = await handle.createWritable();
    return { target: new StreamTarget(writable, { chunked: true, chunkSize: 4 << 20 }), file: () => handle.getFile(), remove: () => dir.removeEntry(name).catch(() => {}) };
  } catch (error) {
    // No OPFS (some private modes): the file is built in memory instead.
    console.warn(`the output is kept in memory: ${error.message}`);
    const target = new BufferTarget();
    return { target, file: async () => new File([target.buffer], name), remove: async () => {} };
  }
}

/**
 * Lip-sync `face` (video or photo) to the voice the core holds (from
 * `voice`, which is decoded again for the output's sound). `options` are
 * the framing's (pads, smoothing, …); `report({done, total, notice})` hears
 * of progress; `cancelled()` is polled between frames. When the GPU fails
 * mid-job, `recover(error)` moves the core to the CPU and resolves to
 * `{batch, notice}`; the job goes on from the batch that failed.
 */
export async function lipSync({ face, voice, options = {}, label = true, quality = 'high', batch = 4, tune = false, recover }, report, cancelled) {
  const started = performance.now();
  const source = await named(face, openFaceInput(face));
  let output = null;
  let destination = null;
  let feeder = null;
  try {
    const still = source.kind === 'photo' || source.count === 1;
    const badge = label ? drawLabel(Math.round(source.height / Math.max(1, options.resizeFactor ?? 1))) : null;
    const plan = core.jobStart(
      { options: { ...options, still: options.still ?? still }, width: source.width, height: source.height, fps: source.fps, sourceFrames: source.count, batch, tune },
      badge?.pixels ?? new Uint8Array(), badge?.width ?? 0, badge?.height ?? 0,
    );
    const { frames: total, width, height } = plan;
    const picture = (QUALITIES[quality] ?? QUALITIES.high)();
    const format = await chooseFormat(width, height, picture);
    // Both tracks' encoders are settled before the first frame is computed.
    feeder = await named(voice, openSoundtrack(voice, format.container));
    const base = face.name.replace(/\.[^.]*$/, '') || 'video';
    const name = `${base}-lipsync.${format.extension}`;
    destination = await outputFile(name);
    output = new Output({ format: format.format(), target: destination.target });
    const video = new VideoSampleSource({ codec: format.video, quality: picture, keyFrameInterval: 2 });
    output.addVideoTrack(video, { frameRate: source.fps });
    output.addAudioTrack(feeder.source);
    output.setMetadataTags({ comment: DISCLOSURE, description: DISCLOSURE });
    await output.start();

    let done = 0;
    const encode = async (finished) => {
      for (const rgba of finished) {
        const timestamp = done / source.fps;
        const sample = new VideoSample(rgba, { format: 'RGBA', codedWidth: width, codedHeight: height, timestamp, duration: 1 / source.fps });
        await video.add(sample);
        sample.close();
        done += 1;
        await named(voice, feeder.until(timestamp + 1));
      }
      report({ done, total, batch: core.jobBatch(), seconds: (performance.now() - started) / 1000 });
    };
    // The encoder works on one batch while the core computes the next: a
    // batch's frames go in once the previous batch's are in, so frames stay
    // in order and at most two batches are held.
    let encoding = Promise.resolve();
    const queue = async (finished) => {
      await encoding;
      encoding = encode(finished);
      // Its failure is met at the next await of `encoding`, not lost.
      encoding.catch(() => {});
    };
    // A batch the GPU failed on stays in the core's job: after `recover`
    // it is run again on the CPU, and the job goes on from there.
    const computed = async (call) => {
      try {
        return await call();
      } catch (error) {
        if (!recover || !core.jobStalled()) throw error;
        const { batch: cpuBatch, notice } = await recover(error);
        report({ done, total, batch: cpuBatch, notice, seconds: (performance.now() - started) / 1000 });
        return computed(() => core.jobResume(cpuBatch));
      }
    };
    for await (const pixels of source.frames(plan.sources)) {
      if (cancelled()) throw new Cancelled();
      await queue(await computed(() => core.jobPush(pixels)));
    }
    await queue(await computed(() => core.jobFinish()));
    await encoding;
    if (done !== total) throw new Error(`the video came out with ${done} of its ${total} frames; please report this`);
    await named(voice, feeder.until(Infinity));
    await output.finalize();
    const file = await destination.file();
    return {
      file, name, mimeType: format.mimeType, frames: total, width, height, fps: source.fps, kind: source.kind, sources: plan.sources,
      videoCodec: format.video, audioCodec: feeder.codec, sound: feeder.description, quality, seconds: (performance.now() - started) / 1000,
    };
  } catch (error) {
    core.jobCancel();
    await output?.cancel().catch(() => {});
    await destination?.remove();
    throw error;
  } finally {
    feeder?.dispose();
    source.dispose();
  }
}
