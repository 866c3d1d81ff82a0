// The voice in the browser: a recording chosen in the page is decoded by the
// worker (mediabunny + WebCodecs), streamed into the core, and turned into the
// mel spectrogram the original computes (mel_full.npy, from speech16k.wav).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openApp, backendOf, statusState } from './harness.mjs';
import { readNpy, maxAbsDiff } from './npy.mjs';
import { wav16 } from './wav.mjs';

const FIXTURES = new URL('../fixtures/', import.meta.url).pathname;

async function hear(page, file) {
  await page.setInputFiles('#voice-file', file);
  return statusState(page, '#voice-status', ['ready', 'error'], 120_000);
}

async function melOf(page) {
  return page.evaluate(async () => Array.from(await window.wav2lip.call('voiceMel')));
}

/** Max and mean absolute difference over the columns both spectrograms have. */
function compare(ours, reference) {
  const [bands, columns] = reference.shape;
  const oursColumns = ours.length / bands;
  const n = Math.min(columns, oursColumns);
  let max = 0;
  let sum = 0;
  for (let b = 0; b < bands; b++) {
    for (let c = 0; c < n; c++) {
      const d = Math.abs(ours[b * oursColumns + c] - reference.data[b * columns + c]);
      max = Math.max(max, d);
      sum += d;
    }
  }
  return { max, mean: sum / (bands * n), oursColumns, columns };
}

test('the voice is heard in the page: 16 kHz matches the original; 44.1 kHz stereo and the Opus sound of a video come close', async () => {
  const reference = readNpy(join(FIXTURES, 'mel_full.npy'));
  const app = await openApp('/?backend=cpu');
  try {
    await backendOf(app.page);

    assert.match(await hear(app.page, join(FIXTURES, 'speech16k.wav')), /Voice: speech16k\.wav, 9\.0 s \(16\.0 kHz mono\)\.$/);
    const mel = await melOf(app.page);
    assert.equal(mel.length, reference.data.length);
    const error = maxAbsDiff(mel, reference.data);
    console.log(`wasm mel parity (speech16k.wav): max abs error ${error.toExponential(2)}`);
    assert.ok(error <= 1e-3, `max abs error ${error}`);

    assert.match(await hear(app.page, join(FIXTURES, 'speech44k_stereo.wav')), /44\.1 kHz stereo/);
    const stereo = compare(await melOf(app.page), reference);
    console.log(`wasm 44.1 kHz stereo vs 16 kHz: max abs ${stereo.max.toFixed(4)}, mean abs ${stereo.mean.toFixed(4)} (${stereo.oursColumns} vs ${stereo.columns} columns)`);
    assert.ok(Math.abs(stereo.oursColumns - stereo.columns) <= 1);
    assert.ok(stereo.mean <= 0.05, `mean abs difference ${stereo.mean}`);

    // The sound of a video: the page encodes the stereo recording to Opus
    // and a small VP8 picture track into WebM with WebCodecs, as a camera
    // recording would be, and the worker takes the audio track.
    const webm = await app.page.evaluate(async () => {
      const mb = await import('/www/lib/mediabunny.js');
      const wav = await (await fetch('/tests/fixtures/speech44k_stereo.wav')).blob();
      const input = new mb.Input({ source: new mb.BlobSource(wav), formats: mb.ALL_FORMATS });
      const output = new mb.Output({ format: new mb.WebMOutputFormat(), target: new mb.BufferTarget() });
      const canvas = new OffscreenCanvas(64, 64);
      const picture = new mb.CanvasSource(canvas, { codec: 'vp8', quality: mb.QUALITY_LOW });
      const opus = new mb.AudioSampleSource({ codec: 'opus', quality: mb.QUALITY_HIGH });
      output.addVideoTrack(picture, { frameRate: 5 });
      output.addAudioTrack(opus);
      await output.start();
      const g = canvas.getContext('2d');
      for (let i = 0; i < 45; i++) {
        g.fillStyle = `hsl(${i * 8} 60% 50%)`;
        g.fillRect(0, 0, 64, 64);
        await picture.add(i / 5, 1 / 5);
      }
      for await (const sample of new mb.AudioSampleSink(await input.getPrimaryAudioTrack()).samples()) {
        await opus.add(sample);
        sample.close();
      }
      await output.finalize();
      return Array.from(new Uint8Array(output.target.buffer));
    });
    const clip = { name: 'my clip (1).webm', mimeType: 'video/webm', buffer: Buffer.from(webm) };
    assert.match(await hear(app.page, clip), /Voice: my clip \(1\)\.webm, 9\.0 s \(48\.0 kHz stereo\)/);
    const lossy = compare(await melOf(app.page), reference);
    console.log(`wasm Opus in a VP8/WebM video (${(webm.length / 1024).toFixed(0)} KiB) vs 16 kHz: max abs ${lossy.max.toFixed(4)}, mean abs ${lossy.mean.toFixed(4)}`);
    assert.ok(lossy.mean <= 0.1, `mean abs difference ${lossy.mean}`);

    assert.deepEqual(app.foreignRequests, []);
  } finally {
    await app.close();
  }
});

test('recordings that cannot drive lips say why, and the page stays usable', async () => {
  const app = await openApp('/?backend=cpu');
  try {
    await backendOf(app.page);
    const notes = { name: 'notes.wav', mimeType: 'audio/wav', buffer: Buffer.from('these are my notes, not audio') };
    assert.match(await hear(app.page, notes), /notes\.wav: not an audio or video file this browser can read/);

    // 0.1 s of 16-bit mono: shorter than one 0.2 s chunk.
    const blip = { name: 'blip.wav', mimeType: 'audio/wav', buffer: wav16(new Int16Array(1600), 16_000, 1) };
    assert.match(await hear(app.page, blip), /blip\.wav: the voice recording is 0\.10 s long; lip sync needs at least 0\.2 s/);

    // Silence in 6 channels at 8 kHz: heard, with a note.
    const quiet = { name: 'quiet.wav', mimeType: 'audio/wav', buffer: wav16(new Int16Array(6 * 8000), 8000, 6) };
    assert.match(await hear(app.page, quiet), /Voice: quiet\.wav, 1\.0 s \(8\.0 kHz 6 channels\)\. Note: the voice is almost silent/);

    // After the errors, a good recording still works.
    assert.match(await hear(app.page, join(FIXTURES, 'speech16k.wav')), /Voice: speech16k\.wav/);
    assert.deepEqual(app.foreignRequests, []);
  } finally {
    await app.close();
  }
});
