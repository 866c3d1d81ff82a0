// Before and after on the same frame: the person's own video (or photo)
// laid over the result, showing through from the left as far as the slider
// says. The original follows the result's time through the job's own
// mapping (a video shorter than the voice plays forward and back), seeked
// to the frame the result shows whenever the result moves on.

const after = document.querySelector('#result-video');
const beforeVideo = document.querySelector('#before-video');
const beforePhoto = document.querySelector('#before-photo');
const slider = document.querySelector('#compare-slider');
const frame = document.querySelector('#compare');

let current = null;
let url = null;

function reveal() {
  frame.style.setProperty('--before', `${slider.value}%`);
}

/** The original's time for the result's time `t`. */
function sourceTime(t) {
  const { fps, sources } = current;
  const i = Math.min(sources.length - 1, Math.max(0, Math.floor(t * fps)));
  return (sources[i] + 0.5) / fps;
}

function follow() {
  if (current?.kind !== 'video') return;
  const t = sourceTime(after.currentTime);
  if (Math.abs(beforeVideo.currentTime - t) > 0.5 / current.fps) beforeVideo.currentTime = t;
}

function everyFrame() {
  follow();
  if (current) after.requestVideoFrameCallback(everyFrame);
}

/** Show `file` (the face input) under the result of a job that made `made`. */
export function compareWith(file, made) {
  if (url) URL.revokeObjectURL(url);
  url = URL.createObjectURL(file);
  current = { kind: made.kind, fps: made.fps, sources: made.sources };
  beforeVideo.hidden = made.kind !== 'video';
  beforePhoto.hidden = made.kind === 'video';
  if (made.kind === 'video') {
    beforePhoto.removeAttribute('src');
    beforeVideo.src = url;
    beforeVideo.addEventListener('loadeddata', follow, { once: true });
    after.requestVideoFrameCallback(everyFrame);
  } else {
    beforeVideo.removeAttribute('src');
    beforePhoto.src = url;
  }
  reveal();
}

slider.addEventListener('input', reveal);
after.addEventListener('seeked', follow);
after.addEventListener('timeupdate', follow);
