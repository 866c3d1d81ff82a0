// What the worker's readers share: opening a user's file (a photo, or a
// track of a media file) with messages that say what is wrong and what to do.

/**
 * The input's primary audio or video track, one this browser can decode;
 * otherwise an error saying what is wrong with the file and what to do.
 */
export async function decodableTrack(input, kind, { unreadable, formats, missing, convert }) {
  let track;
  try {
    track = await (kind === 'audio' ? input.getPrimaryAudioTrack() : input.getPrimaryVideoTrack());
  } catch (error) {
    // Not a container mediabunny knows: nothing more to say than that. Any
    // other failure (a damaged header) keeps its detail.
    const detail = error?.name === 'UnsupportedInputFormatError' ? '' : ` (${error.message})`;
    throw new Error(`${unreadable}${detail}; try ${formats}`);
  }
  if (!track) throw new Error(missing);
  if (kind === 'video') checkSize(track.displayWidth, track.displayHeight);
  if (!(await track.canDecode())) {
    throw new Error(`this browser cannot decode its ${track.codec ?? 'unknown'} ${kind}; convert it to ${convert} first`);
  }
  return track;
}

/**
 * The largest picture the app opens: 8192×4352 pixels (8K; H.264's largest
 * frame). One such frame is 140 MB as RGBA, and the worker holds a few
 * copies while it decodes and hands it over; a 10 000 × 10 000 one would
 * take gigabytes. (Jobs on pictures over 4K shrink them first: the core's
 * `shrinkNeeded`.)
 */
const MAX_PIXELS = 8192 * 4352;

/** Refuse a picture larger than the app can open, saying what to do. */
function checkSize(width, height) {
  if (width * height <= MAX_PIXELS) return;
  const mp = (n) => (n / 1e6).toFixed(0);
  throw new Error(`its picture is ${width}×${height} pixels (${mp(width * height)} megapixels), more than a browser tab can work on; the app opens pictures up to ${mp(MAX_PIXELS)} megapixels (8K, e.g. 7680×4320): scale it down first, to 4K (3840×2160) or less`);
}

const IMAGE = /\.(jpe?g|png|webp|gif|bmp|avif)$/i;

/** Whether a file is a still picture (by type, else by name). */
export const isImage = (file) => file.type.startsWith('image/') || IMAGE.test(file.name);

/** What to say about a face file's video track, and a voice file's sound. */
export const FACE_TRACK = {
  unreadable: 'not a video or photo this browser can read',
  formats: 'MP4, WebM, MOV, JPEG or PNG',
  missing: 'it has no picture: choose a video or a photo of the face',
  convert: 'H.264 MP4 or VP9 WebM',
};
export const VOICE_TRACK = {
  unreadable: 'not an audio or video file this browser can read',
  formats: 'WAV, MP3, M4A, Ogg or WebM',
  missing: 'it has no sound: choose a recording of the voice, or a video with sound',
  convert: 'WAV, MP3 or Opus',
};

/** A photo, decoded: `{pixels, width, height}`, RGBA. */
export async function photoPixels(file) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch {
    throw new Error('not an image this browser can read; try JPEG, PNG or WebP');
  }
  const { width, height } = bitmap;
  try {
    checkSize(width, height);
    const context = new OffscreenCanvas(width, height).getContext('2d');
    context.drawImage(bitmap, 0, 0);
    return { pixels: new Uint8Array(context.getImageData(0, 0, width, height).data.buffer), width, height };
  } finally {
    bitmap.close();
  }
}

/**
 * Refuse an audio piece whose rate or channel count differs from the
 * first piece's (`format`): neither the spectrogram nor the encoder can
 * follow such a change.
 */
export function checkSameFormat(format, sample) {
  if (sample.sampleRate !== format.rate || sample.numberOfChannels !== format.channels) {
    throw new Error(`its audio changes format midway (${format.rate} Hz × ${format.channels} → ${sample.sampleRate} Hz × ${sample.numberOfChannels}); convert it to WAV first`);
  }
}

/**
 * A decoded video frame (a mediabunny VideoSample) as upright RGBA bytes of
 * its display size: `{pixels, width, height}`. The pixels are copied out by
 * WebCodecs (`copyTo` in RGBA) and turned by the track's rotation here;
 * only a frame with non-square pixels, which must be stretched, goes
 * through a canvas. (Drawing frames on a canvas made Chromium keep a cache
 * that grew by about a frame per frame, to some 400 MB:
 * tests/bench/soak.mjs.) The sample is closed once its pixels are out.
 */
export async function uprightPixels(sample) {
  const turned = sample.rotation % 180 !== 0;
  const [width, height] = turned ? [sample.displayHeight, sample.displayWidth] : [sample.displayWidth, sample.displayHeight];
  const frame = sample.toVideoFrame();
  try {
    const { visibleRect } = frame;
    if (visibleRect.width !== width || visibleRect.height !== height) return stretched(sample);
    const pixels = new Uint8Array(width * height * 4);
    await frame.copyTo(pixels, { format: 'RGBA', colorSpace: 'srgb' });
    return orient(pixels, width, height, sample.rotation, sample.flip);
  } finally {
    frame.close();
    sample.close();
  }
}

/** `pixels` (`width`×`height` RGBA) turned clockwise by `rotation` degrees, then mirrored if `flip`. */
function orient(pixels, width, height, rotation, flip) {
  if (rotation === 0 && !flip) return { pixels, width, height };
  const turned = rotation % 180 !== 0;
  const [w, h] = turned ? [height, width] : [width, height];
  const from = new Uint32Array(pixels.buffer);
  const to = new Uint32Array(w * h);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let [u, v] = rotation === 90 ? [height - 1 - y, x] : rotation === 180 ? [width - 1 - x, height - 1 - y] : rotation === 270 ? [y, width - 1 - x] : [x, y];
      if (flip) u = w - 1 - u;
      to[v * w + u] = from[y * width + x];
    }
  }
  return { pixels: new Uint8Array(to.buffer), width: w, height: h };
}

/** A frame with non-square pixels, drawn at its display size. */
function stretched(sample) {
  const canvas = new OffscreenCanvas(sample.displayWidth, sample.displayHeight);
  const context = canvas.getContext('2d', { willReadFrequently: true });
  sample.drawWithFit(context, { fit: 'fill' });
  const { width, height } = canvas;
  return { pixels: new Uint8Array(context.getImageData(0, 0, width, height).data.buffer), width, height };
}
