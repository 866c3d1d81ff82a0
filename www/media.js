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
    throw new Error(`${unreadable} (${error.message}); try ${formats}`);
  }
  if (!track) throw new Error(missing);
  if (!(await track.canDecode())) {
    throw new Error(`this browser cannot decode its ${track.codec ?? 'unknown'} ${kind}; convert it to ${convert} first`);
  }
  return track;
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

/** A photo, decoded onto a canvas of its size. */
export async function photoCanvas(file) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch {
    throw new Error('not an image this browser can read; try JPEG, PNG or WebP');
  }
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  canvas.getContext('2d').drawImage(bitmap, 0, 0);
  bitmap.close();
  return canvas;
}
