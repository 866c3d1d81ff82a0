// The odd but ordinary files people have (scripts/test-clips.sh makes them,
// in odd/), each through the page as a person would use it: a video of the
// right size, length and sound comes out, or a sentence that names the file
// and says what is wrong and what to do — never a library's raw message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { GENERATED, openApp, backendOf, made, modelState, statusState } from './harness.mjs';

const file = (name) => {
  const path = join(GENERATED, name);
  if (!existsSync(path)) throw new Error(`${path} is missing: run \`make test\` (it writes the test media)`);
  return path;
};

// The faces (with the short voice), then the voices (with the WebP face).
const CASES = [
  { face: 'odd/rotated90.mp4', size: [360, 640] },
  { face: 'odd/rotated270.mp4', size: [360, 640] },
  { face: 'odd/odd321x375.webm', size: [321, 375] },
  { face: 'odd/oneframe.mp4', size: [640, 360] },
  { face: 'odd/vfr.mp4', size: [640, 360] },
  { face: 'odd/montage.mp4', size: [640, 360] },
  { face: 'odd/alpha.png', size: [256, 256] },
  { face: 'odd/late-video.mp4', voice: 'odd/late-video.mp4', size: [640, 360] },
  { face: 'odd/uhd.mp4', size: [3840, 2160] },
  // Over 4K the page chooses to shrink the frames, and says so.
  { face: 'odd/photo8k.jpg', size: [3840, 2160], said: /shrunk by 2 for lip sync \(Options\), to 3840×2160/ },
  { face: 'odd/huge.mp4', error: /^huge\.mp4: its picture is 10000×10000 pixels \(100 megapixels\), more than a browser tab can work on; .*scale it down first/ },
  { voice: 'odd/voice.mp3' },
  { voice: 'odd/surround96k.flac' },
  { voice: 'odd/mulaw8k.wav' },
  { voice: 'odd/voice22k.wav' },
  { voice: 'odd/surround51.webm', channels: 6 },
  { voice: 'odd/surround71.wav' },
  { face: 'odd/random.mp4', error: /^random\.mp4: not a video or photo this browser can read; try MP4, WebM, MOV, JPEG or PNG$/ },
  { voice: 'odd/random.mp3', error: /^random\.mp3: not an audio or video file this browser can read; try WAV, MP3, M4A, Ogg or WebM$/ },
];

test('odd but ordinary files each make a video of the right size, length and sound, or get a plain sentence', async () => {
  const app = await openApp('/?backend=cpu');
  const { page } = app;
  const rows = [];
  try {
    await backendOf(page);
    await page.evaluate(() => { document.querySelector('#options').open = true; });
    await page.setInputFiles('#model-file', file('formula7.pth'));
    await modelState(page, 'ready');
    // What each input holds now, and whether a case's file opens in it
    // (true), or was refused as the case expects (false, with its sentence).
    const held = { face: null, voice: null };
    const open = async (kind, path, c) => {
      if (held[kind] === path) return true;
      if (kind === 'face') await page.selectOption('#resize', '1');
      await page.setInputFiles(`#${kind}-file`, file(path));
      const said = await statusState(page, `#${kind}-status`, ['ready', 'error']);
      const state = await page.locator(`#${kind}-status`).getAttribute('data-state');
      held[kind] = state === 'ready' ? path : null;
      if (c.error && c[kind]) {
        assert.match(said, c.error, path);
        rows.push(`${path}: "${said}"`);
        return false;
      }
      assert.equal(state, 'ready', `${path} opens: ${said}`);
      if (c.said) assert.match(said, c.said);
      return true;
    };
    for (const c of CASES) {
      const wantFace = c.face ?? 'odd/face.webp';
      const wantVoice = c.voice ?? 'short.wav';
      if (!(await open('face', wantFace, c)) || !(await open('voice', wantVoice, c))) continue;
      // The voice's length from its file (the page rounds it to 0.1 s).
      const voiceSeconds = await page.evaluate(async (url) => {
        const { ALL_FORMATS, BlobSource, Input } = await import('/www/lib/mediabunny.js');
        const input = new Input({ source: new BlobSource(await (await fetch(url)).blob()), formats: ALL_FORMATS });
        const track = await input.getPrimaryAudioTrack();
        return (await track.computeDuration()) - (await track.getFirstTimestamp());
      }, `/generated/${wantVoice}`);
      await page.click('#run');
      const done = await statusState(page, '#run-status', ['ready', 'error'], 600_000);
      assert.match(done, /^Done: /, `${wantFace} + ${wantVoice}: ${done}`);
      const out = await made(page);
      const [fps] = done.match(/at ([\d.]+) fps/).slice(1).map(Number);
      rows.push(`${wantFace} + ${wantVoice}: ${out.width}×${out.height} ${out.codec}, ${out.frames} frames, ${out.seconds.toFixed(2)} s; sound ${out.audio?.codec} ${out.audio?.channels} ch ${out.audio?.rate} Hz ${out.audio?.seconds.toFixed(3)} s (voice ${voiceSeconds.toFixed(3)} s) — ${done.split(' + ')[1]}`);
      if (c.size) assert.deepEqual([out.width, out.height], c.size, `${wantFace}: the output keeps the input's size`);
      assert.ok(out.audio, `${wantFace} + ${wantVoice}: the output has sound`);
      // The sound lasts as long as the voice, to a frame.
      assert.ok(Math.abs(out.audio.seconds - voiceSeconds) <= 1 / fps, `sound ${out.audio.seconds} s for a voice of ${voiceSeconds} s`);
      // One frame per 0.2-s window of the voice, a window starting every
      // frame (the original's count: the video ends 0.16 s before the voice).
      const windows = Math.floor((80 * out.audio.seconds - 16) / (80 / fps)) + 1;
      assert.ok(Math.abs(out.frames - windows) <= 2, `${out.frames} frames at ${fps} fps for ${out.audio.seconds} s of sound (${windows} windows)`);
      if (c.channels) assert.equal(out.audio.channels, c.channels, 'copied as it was');
      assert.ok(out.audio.channels <= (c.channels ?? 2), `${out.audio.channels} channels`);
      assert.match(out.tags.comment ?? '', /AI-generated/);
    }
    console.log(rows.join('\n'));
    assert.deepEqual(app.foreignRequests, []);
  } finally {
    await app.close();
  }
});
