// Where the face turns away, from the worker's look at the video
// (`scanPoses`): spans of time whose samples' yaw or pitch passes the
// limit, as the page names them before a run. Wav2Lip was trained on faces
// towards the camera; such frames come out poorly, and Options can leave
// them untouched.

/** m:ss */
export const clock = (t) => `${Math.floor(t / 60)}:${String(Math.floor(t % 60)).padStart(2, '0')}`;

/**
 * `samples`: [{t, yaw, pitch}] in time order (no yaw where no face was
 * seen); `step`: their spacing (s). Returns [{start, end}] (s) over which
 * the face is turned by more than `limit` degrees; a sample stands for the
 * `step` after it.
 */
export function turnedSpans(samples, step, limit) {
  const spans = [];
  for (const { t, yaw, pitch } of samples) {
    if (!(Math.abs(yaw) > limit || Math.abs(pitch) > limit)) continue;
    const last = spans.at(-1);
    if (last && t - last.end < step / 2) last.end = t + step;
    else spans.push({ start: t, end: t + step });
  }
  return spans;
}

/** The sentence the page shows, or '' when the face stays towards the camera. */
export function describeTurns(spans, duration, kind) {
  if (spans.length === 0) return '';
  if (kind === 'photo') return 'The face is turned away; Wav2Lip works best on faces towards the camera.';
  const named = spans.map(({ start, end }) => `${clock(start)}–${clock(Math.min(end, duration))}`);
  return `${named.join(', ')}: the face turns away; Wav2Lip works best on faces towards the camera.`;
}
