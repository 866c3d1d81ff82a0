// Browser figures for the generator: time to load a checkpoint from a user's
// File and from the OPFS copy on the next visit, and ms/frame by batch size,
// on each compute backend. Not a test: it prints numbers.
//
//   node tests/bench/browser.mjs CHECKPOINT.pth
//   BACKENDS=cpu,webgpu CPU_BATCHES=1,8,32 WEBGPU_BATCHES=1 RUNS=3 node tests/bench/browser.mjs …
import { statSync } from 'node:fs';
import { openApp, backendOf, modelState } from '../e2e/harness.mjs';

const [checkpoint] = process.argv.slice(2);
if (!checkpoint) {
  console.error('usage: node tests/bench/browser.mjs CHECKPOINT.pth');
  process.exit(2);
}
const list = (name, fallback) => (process.env[name] ?? fallback).split(',').filter(Boolean);
const backends = list('BACKENDS', 'cpu,webgpu');
const runs = Number(process.env.RUNS ?? 3);
// SwiftShader (this machine's WebGPU) needs ~25 s per frame: batch 1 only by default.
const batches = { cpu: list('CPU_BATCHES', '1,8,32'), webgpu: list('WEBGPU_BATCHES', '1') };

async function ready(page) {
  const text = await modelState(page, ['ready', 'error'], 1_800_000);
  if (!/ready/.test(text)) throw new Error(text);
  return text;
}

const seconds = (text) => Number(text.match(/\(([\d.]+) s\)/)[1]);

console.log(`checkpoint: ${checkpoint} (${(statSync(checkpoint).size / 1e6).toFixed(0)} MB)`);
for (const backend of backends) {
  const app = await openApp(`/?backend=${backend}`);
  try {
    const chosen = await backendOf(app.page);
    const adapter = await app.page.locator('#backend').textContent();
    console.log(`\n${backend} (${chosen}): ${adapter.replace(/\s+/g, ' ').trim()}`);
    await modelState(app.page, 'none');
    await app.page.setInputFiles('#model-file', checkpoint);
    console.log(`  load from File (incl. writing the OPFS copy): ${seconds(await ready(app.page)).toFixed(2)} s`);
    await app.page.reload();
    console.log(`  load from the OPFS copy on the next visit:    ${seconds(await ready(app.page)).toFixed(2)} s`);
    const again = await app.page.evaluate(() => window.wav2lip.call('loadCachedModel'));
    const part = (name) => again[name].toFixed(2);
    console.log(`  once more, by step: ${again.seconds.toFixed(2)} s = read ${part('readSeconds')} + to the device ${part('deviceSeconds')} + worker ${(again.seconds - again.readSeconds - again.deviceSeconds).toFixed(2)}`);

    for (const batch of batches[backend].map(Number)) {
      const times = await app.page.evaluate(async ({ batch, runs }) => {
        const mel = new Float32Array(batch * 80 * 16).map((_, i) => Math.sin(i));
        const face = new Float32Array(batch * 6 * 96 * 96).map((_, i) => 0.5 + 0.5 * Math.sin(i * 0.7));
        const times = [];
        // The first call compiles kernels and sizes buffers: reported apart.
        for (let run = 0; run <= runs; run++) {
          const start = performance.now();
          await window.wav2lip.call('generate', { mel, face, batch });
          times.push(performance.now() - start);
        }
        return times;
      }, { batch, runs });
      const [first, ...rest] = times;
      rest.sort((a, b) => a - b);
      const median = rest[Math.floor(rest.length / 2)] ?? first;
      console.log(`  batch ${String(batch).padStart(2)}: ${(median / batch).toFixed(1).padStart(8)} ms/frame (median of ${rest.length}: ${median.toFixed(0)} ms per batch; first ${first.toFixed(0)} ms)`);
    }
  } finally {
    await app.close();
  }
}
