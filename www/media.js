// What the worker's readers share: opening a track of a user's file with
// messages that say what is wrong and what to do.

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
