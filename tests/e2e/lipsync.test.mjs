// The whole app through its page, as a person uses it: a checkpoint, a face
// video and a voice chosen in the file inputs, the button pressed, the video
// that comes out checked frame by frame. The clips come from
// scripts/test-clips.sh (ffmpeg + espeak-ng); the model is the oracle's
// formula weights. On the CPU path: WebGPU here is a software adapter.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { openApp, backendOf, modelState, statusState } from './harness.mjs';

const GENERATED = process.env.WAV2LIP_FIXTURES ?? join(homedir(), '.cache/wav2lip/fixtures');
const file = (name) => {
  const path = join(GENERATED, name);
  if (!existsSync(path)) throw new Error(`${path} is missing: run \`make test\` (it writes the test media)`);
  return path;
};

/** Load the model, the face and the voice through the page's inputs. */
async function choose(page, { face, voice, model = 'formula7.pth' }) {
  await page.setInputFiles('#model-file', file(model));
  await modelState(page, 'ready');
  await page.setInputFiles('#face-file', file(face));
  await statusState(page, '#face-status', ['ready', 'error']);
  await page.setInputFiles('#voice-file', file(voice));
  await statusState(page, '#voice-status', ['ready', 'error']);
}

/** The output and the input, decoded in the page (mediabunny + WebCodecs). */
async function inspect(page, original) {
  // Through the page's own Download link, as a person saves it.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
  const saved = readFileSync(await download.path());
  const name = download.suggestedFilename();
  return page.evaluate(async ([madeBytes, originalBytes, name]) => {
    const { ALL_FORMATS, BlobSource, CanvasSink, Input } = await import('/www/lib/mediabunny.js');
    const made = new Blob([new Uint8Array(madeBytes)]);
    const original = new Blob([new Uint8Array(originalBytes)]);
    const open = async (blob) => {
      const input = new Input({ source: new BlobSource(blob), formats: ALL_FORMATS });
      const video = await input.getPrimaryVideoTrack();
      const audio = await input.getPrimaryAudioTrack();
      const frames = [];
      for await (const { canvas } of new CanvasSink(video, { poolSize: 0 }).canvases()) {
        frames.push(canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data);
      }
      return {
        input, frames, width: video.displayWidth, height: video.displayHeight, codec: video.codec,
        audio: audio && { codec: audio.codec, seconds: await audio.computeDuration() }, tags: await input.getMetadataTags(),
      };
    };
    const out = await open(made);
    const src = await open(original);
    // Mean absolute difference over a region, per frame pair (RGB).
    const diff = (a, b, [x1, y1, x2, y2]) => {
      let sum = 0;
      for (let y = y1; y < y2; y++) {
        for (let x = x1; x < x2; x++) {
          const i = (y * out.width + x) * 4;
          sum += Math.abs(a[i] - b[i]) + Math.abs(a[i + 1] - b[i + 1]) + Math.abs(a[i + 2] - b[i + 2]);
        }
      }
      return sum / 3 / ((x2 - x1) * (y2 - y1));
    };
    // The face in each source frame, by the app's own detector.
    const regions = [];
    for (const pixels of src.frames) {
      const { faces } = await window.wav2lip.call('detectFaces', { pixels: new Uint8Array(pixels), width: src.width, height: src.height });
      regions.push(faces[0]);
    }
    const n = Math.min(out.frames.length, src.frames.length);
    const mouth = [];
    const far = [];
    const label = [];
    for (let i = 0; i < n; i++) {
      const [x1, y1, x2, y2] = regions[i].box;
      const [mx, my] = regions[i].keypoints[3];
      const half = (x2 - x1) / 6;
      mouth.push(diff(out.frames[i], src.frames[i], [mx - half, my - half / 2, mx + half, my + half].map(Math.round)));
      far.push(diff(out.frames[i], src.frames[i], [0, 0, 60, out.height]));
      label.push(diff(out.frames[i], src.frames[i], [out.width - 60, out.height - 22, out.width - 12, out.height - 12]));
    }
    const columns = (await window.wav2lip.call('voiceMel')).length / 80;
    return {
      frames: out.frames.length, width: out.width, height: out.height, codec: out.codec, audio: out.audio,
      comment: out.tags.comment ?? '', size: made.size, name, mouth, far, label, columns,
      source: { width: src.width, height: src.height, frames: src.frames.length },
    };
  }, [Array.from(saved), Array.from(readFileSync(original)), name]);
}

/** The original's frame count for a spectrogram of `columns` at `fps`. */
function chunks(columns, fps) {
  let n = 0;
  for (let i = 0; ; i++) {
    n += 1;
    if (Math.floor(i * (80 / fps)) + 16 > columns) return n;
  }
}

const mean = (list) => list.reduce((a, b) => a + b, 0) / list.length;

test('a talking clip goes through the page: same size, one frame per chunk, the sound, the mouth changed, the rest kept, the label', async () => {
  const app = await openApp('/?backend=cpu');
  try {
    assert.equal(await backendOf(app.page), 'cpu');
    await choose(app.page, { face: 'talking.mp4', voice: 'talking.mp4' });
    assert.match(await app.page.locator('#face-status').textContent(), /one face found/);
    assert.equal(await app.page.locator('#run').isEnabled(), true);
    await app.page.click('#run');
    assert.match(await statusState(app.page, '#run-status', ['ready', 'error'], 900_000), /^Done: /);
    // Before and after: the original over the result up to the slider, on
    // the frame the result shows.
    await app.page.locator('#compare-slider').fill('60');
    const compare = await app.page.evaluate(async () => {
      const [after, before] = ['#result-video', '#before-video'].map((id) => document.querySelector(id));
      if (after.readyState < 1) await new Promise((r) => after.addEventListener('loadedmetadata', r, { once: true }));
      after.currentTime = 1.0;
      await new Promise((r) => after.addEventListener('seeked', r, { once: true }));
      if (before.seeking || before.readyState < 2) await new Promise((r) => before.addEventListener('seeked', r, { once: true }));
      return { time: before.currentTime, url: before.src, hidden: before.hidden, reveal: getComputedStyle(document.querySelector('#compare')).getPropertyValue('--before').trim() };
    });
    console.log(`before and after: the original at ${compare.time.toFixed(3)} s under the result at 1.000 s, shown over ${compare.reveal}`);
    assert.ok(compare.url.startsWith('blob:') && !compare.hidden, 'the original is under the result');
    assert.equal(compare.reveal, '60%');
    assert.ok(Math.abs(compare.time - 1.02) < 0.03, `the original follows the result: ${compare.time}`);
    const result = await inspect(app.page, file('talking.mp4'));
    console.log(`output: ${result.frames} frames ${result.width}×${result.height} ${result.codec} + ${result.audio?.codec}, ${(result.size / 1e3).toFixed(0)} kB; ` +
      `mean change: mouth ${mean(result.mouth).toFixed(1)}, far ${mean(result.far).toFixed(2)}, label ${mean(result.label).toFixed(1)} grey levels`);
    assert.match(result.name, /^talking-lipsync\.(mp4|webm)$/);
    assert.equal(result.width, result.source.width);
    assert.equal(result.height, result.source.height);
    assert.equal(result.frames, chunks(result.columns, 25));
    assert.ok(result.audio, 'the output has sound');
    assert.ok(Math.abs(result.audio.seconds - 2) < 0.15, `sound of ${result.audio.seconds} s`);
    assert.match(result.comment, /AI-generated/);
    // Codec noise (two H.264 generations, a textured flag) stays under 4
    // grey levels here; the generated mouth moves by tens.
    assert.ok(Math.min(...result.mouth) > 8, `the mouth changes in every frame: ${result.mouth.map((v) => v.toFixed(1))}`);
    assert.ok(Math.max(...result.far) < 4, `far from the face only codec noise: ${result.far.map((v) => v.toFixed(2))}`);
    assert.ok(Math.min(...result.label) > 20, `the label is drawn: ${result.label.map((v) => v.toFixed(1))}`);
    assert.equal(await app.page.locator('#result-video').evaluate((v) => v.src.startsWith('blob:')), true);
    assert.deepEqual(app.foreignRequests, []);
  } finally {
    await app.close();
  }
});

test('a wide shot: the far-off face (70 px in 1080p) is found, boxed in the preview, lip-synced; the rest kept', async () => {
  const app = await openApp('/?backend=cpu');
  try {
    await backendOf(app.page);
    await choose(app.page, { face: 'wide.mp4', voice: 'short.wav' });
    assert.match(await app.page.locator('#face-status').textContent(), /1920×1080: one face found/);
    // The preview draws the chosen face's crop in green, where the core
    // finds the face in the first frame.
    const preview = await app.page.evaluate(async () => {
      const canvas = document.querySelector('#face-preview');
      const g = canvas.getContext('2d');
      const { data, width, height } = g.getImageData(0, 0, canvas.width, canvas.height);
      const { faces } = await window.wav2lip.call('detectFaces', { pixels: new Uint8Array(data.buffer), width, height });
      const [x1, y1, x2] = faces[0].crop;
      const [r, gr, b] = g.getImageData(Math.round((x1 + x2) / 2), y1, 1, 1).data;
      return { faces: faces.length, box: faces[0].box, edge: [r, gr, b] };
    });
    console.log(`wide shot: the face's box ${preview.box.map(Math.round).join(',')}, the preview's edge there rgb(${preview.edge})`);
    const [, y1, , y2] = preview.box;
    assert.ok(y2 - y1 > 50 && y2 - y1 < 100, `a face about 70 px tall: ${y2 - y1}`);
    assert.deepEqual(preview.edge, [46, 204, 113], 'the green box is drawn round it');
    await app.page.click('#run');
    assert.match(await statusState(app.page, '#run-status', ['ready', 'error'], 900_000), /^Done: /);
    const result = await inspect(app.page, file('wide.mp4'));
    console.log(`wide shot output: ${result.frames} frames ${result.width}×${result.height}; mean change: mouth ${mean(result.mouth).toFixed(1)}, far ${mean(result.far).toFixed(2)} grey levels`);
    assert.equal(result.width, 1920);
    assert.equal(result.height, 1080);
    assert.ok(Math.min(...result.mouth) > 8, `the mouth changes in every frame: ${result.mouth.map((v) => v.toFixed(1))}`);
    assert.ok(Math.max(...result.far) < 4, `far from the face only codec noise: ${result.far.map((v) => v.toFixed(2))}`);
    assert.deepEqual(app.foreignRequests, []);
  } finally {
    await app.close();
  }
});

test('where the face turns away the page says when, before the run, and can leave those frames untouched', async () => {
  const app = await openApp('/?backend=cpu');
  const { page } = app;
  try {
    await backendOf(page);
    // turning.mp4 turns the face in depth from 1 s to 2 s, which the mesh
    // reads as about 28° of yaw: over a limit of 20° (the default, 35°,
    // takes a real head turning further than a photo can be made to).
    await page.evaluate(() => {
      document.querySelector('#options').open = true;
    });
    await page.fill('#turned-limit', '20');
    await choose(page, { face: 'turning.mp4', voice: 'turning.mp4' });
    await page.locator('#face-turns-text').filter({ hasText: /turns away/ }).waitFor({ timeout: 120_000 });
    const said = await page.locator('#face-turns-text').textContent();
    console.log(`before the run: ${said}`);
    assert.match(said, /^0:01–0:02: the face turns away; Wav2Lip works best on faces towards the camera\.$/);
    // At the default limit the same face is not turned away.
    await page.fill('#turned-limit', '35');
    assert.equal(await page.locator('#face-turns').isHidden(), true);
    await page.fill('#turned-limit', '20');
    await page.check('#keep-turned');
    await page.click('#run');
    assert.match(await statusState(page, '#run-status', ['ready', 'error'], 900_000), /^Done: /);
    const result = await inspect(page, file('turning.mp4'));
    const turned = result.mouth.slice(27, 48);
    const towards = [...result.mouth.slice(0, 23), ...result.mouth.slice(52, result.source.frames)];
    console.log(`mouth change: turned away ${mean(turned).toFixed(1)} (max ${Math.max(...turned).toFixed(1)}), towards the camera ${mean(towards).toFixed(1)} (min ${Math.min(...towards).toFixed(1)}) grey levels`);
    assert.ok(Math.max(...turned) < 4, `frames turned away stay as they were: ${turned.map((v) => v.toFixed(1))}`);
    assert.ok(Math.min(...towards) > 8, `the others are lip-synced: ${towards.map((v) => v.toFixed(1))}`);
    assert.deepEqual(app.foreignRequests, []);
  } finally {
    await app.close();
  }
});

test('what goes wrong is said plainly and the page stays usable: a wrong checkpoint, a silent voice, no face anywhere, a cut-off video, a cancel', async () => {
  const app = await openApp('/?backend=cpu');
  const { page } = app;
  const run = async () => {
    await page.click('#run');
    return statusState(page, '#run-status', ['ready', 'error'], 600_000);
  };
  try {
    await backendOf(page);
    await choose(page, { face: 'noface.mp4', voice: 'silent.mp4' });
    // The SyncNet expert instead of the generator: named, and the model
    // loaded before stays.
    await page.setInputFiles('#model-file', file('syncnet.pth'));
    assert.match(await modelState(page, 'error'), /syncnet\.pth: this is the SyncNet lip-sync expert .* give the app wav2lip\.pth or wav2lip_gan\.pth/);
    assert.match(await page.locator('#voice-status').textContent(), /silent\.mp4: it has no sound: choose a recording of the voice, or a video with sound/);
    assert.match(await page.locator('#face-status').textContent(), /No face in the first frame; the whole video will be searched/);
    assert.equal(await page.locator('#run').isEnabled(), false, 'no voice yet');

    await page.setInputFiles('#voice-file', file('talking.mp4'));
    await statusState(page, '#voice-status', 'ready');
    assert.match(await run(), /^Lip sync failed: no face was found in any frame of the video/);
    assert.equal(await page.locator('#face-preview').isVisible(), true, 'the first frame is still shown');
    assert.equal(await page.locator('#run').isEnabled(), true);

    await page.setInputFiles('#face-file', file('truncated.mp4'));
    const opened = await statusState(page, '#face-status', ['ready', 'error']);
    if (/one face found/.test(opened)) {
      assert.match(await run(), /^Lip sync failed: the face video .*(damaged|incomplete)/);
    } else {
      assert.match(opened, /truncated\.mp4: .*(damaged|incomplete)/);
    }
    // Still usable: a good video opens and a job starts; cancelling it
    // stops it and leaves everything ready for the next.
    await page.setInputFiles('#face-file', file('talking.mp4'));
    assert.match(await statusState(page, '#face-status', 'ready'), /one face found/);
    await page.click('#run');
    await page.waitForFunction(() => /^[1-9]\d* \/ 49 frames/.test(document.querySelector('#run-status').textContent), null, { timeout: 300_000 });
    await page.click('#cancel');
    assert.match(await statusState(page, '#run-status', ['none', 'ready', 'error'], 300_000), /^Cancelled\./);
    assert.equal(await page.locator('#run').isEnabled(), true);
    assert.equal(await page.locator('#result').isVisible(), false);
    assert.deepEqual(app.foreignRequests, []);
  } finally {
    await app.close();
  }
});

test('a voice recorded on the page and a face recorded with the camera go in like files; a dropped file too', async () => {
  const app = await openApp('/?backend=cpu');
  const { page } = app;
  const record = async (button, status, seconds) => {
    await page.click(button);
    await page.waitForSelector(`${button}[data-recording="true"]`);
    await page.waitForTimeout(seconds * 1000);
    await page.click(button);
    return statusState(page, status, ['ready', 'error']);
  };
  try {
    await backendOf(page);
    // Chromium's fake microphone beeps; its fake camera shows a moving pattern.
    const voice = await record('#voice-record', '#voice-status', 1.5);
    const seconds = Number(voice.match(/microphone\.webm, ([\d.]+) s/)?.[1]);
    assert.ok(seconds > 1 && seconds < 3, voice);
    assert.match(await record('#face-record', '#face-status', 1), /^Face: camera\.webm, video \d+×\d+[.:]/);

    // Dropped on the voice section: the same checks as a chosen file.
    const dataTransfer = await page.evaluateHandle((bytes) => {
      const transfer = new DataTransfer();
      transfer.items.add(new File([new Uint8Array(bytes)], 'take 2 (final).mp4', { type: 'video/mp4' }));
      return transfer;
    }, Array.from(readFileSync(file('silent.mp4'))));
    await page.dispatchEvent('#voice', 'drop', { dataTransfer });
    assert.match(await statusState(page, '#voice-status', 'error'), /take 2 \(final\)\.mp4: it has no sound/);
    assert.deepEqual(app.foreignRequests, []);
  } finally {
    await app.close();
  }
});
