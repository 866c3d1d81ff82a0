// Browser figures for the generator: time to load a checkpoint from a user's
// File and from the OPFS copy on the next visit, and ms/frame by batch size,
// on each compute backend. Not a test: it prints numbers.
//
//   node tests/bench/browser.mjs CHECKPOINT.pth [MODEL.onnx]
//   BACKENDS=cpu,webgpu CPU_BATCHES=1,8,32 WEBGPU_BATCHES=1 RUNS=3 node tests/bench/browser.mjs …
//   SIMD=simd128 …   (the core's baseline-SIMD build; by default the worker
//                     picks relaxed SIMD where the browser has it)
//
// With MODEL.onnx (tests/bench/export-onnx.py), ONNX Runtime Web runs the
// same model on the matching backend and batch sizes, and ours / ORT is
// printed.
import { statSync } from 'node:fs';
import { openApp, backendOf, modelState, statusState } from '../e2e/harness.mjs';

const [checkpoint, onnx] = process.argv.slice(2);
if (!checkpoint) {
  console.error('usage: node tests/bench/browser.mjs CHECKPOINT.pth');
  process.exit(2);
}
const list = (name, fallback) => (process.env[name] ?? fallback).split(',').filter(Boolean);
const backends = list('BACKENDS', 'cpu,webgpu');
const runs = Number(process.env.RUNS ?? 3);
const simd = process.env.SIMD ? `&simd=${process.env.SIMD}` : '';
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
  const app = await openApp(`/?backend=${backend}${simd}`);
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

    // ms/frame by batch size: the benchmark page, on the model just kept.
    await app.page.goto(`${app.origin}/bench.html?${simd.slice(1)}`);
    const wanted = { backend, ort: backend === 'cpu' ? 'wasm' : backend };
    for (const box of await app.page.$$('input[name=backend], input[name=ort]')) await box.setChecked(await box.evaluate((b, w) => b.value === w[b.name], wanted));
    if (onnx) await app.page.setInputFiles('#bench-onnx', onnx);
    await app.page.fill('#bench-batches', batches[backend].join(','));
    await app.page.fill('#bench-runs', String(runs));
    await app.page.click('#bench-run');
    const done = await statusState(app.page, '#bench-status', ['ready', 'error'], 3_600_000);
    if (!/^Done/.test(done)) throw new Error(done);
    for (const { engine, batch, ms, first, adapter, ratio } of await app.page.$$eval('#bench-results tbody tr', (rows) => rows.map((row) => ({ ...row.dataset, adapter: row.cells[2].textContent, first: row.cells[5].textContent })))) {
      const versus = ratio ? `; ours / ORT ${Number(ratio).toFixed(2)}` : '';
      console.log(`  ${engine.padEnd(7)} batch ${batch.padStart(2)}: ${Number(ms).toFixed(1).padStart(8)} ms/frame (median of ${runs}; first call ${first} ms${versus}) [${adapter}]`);
    }
  } finally {
    await app.close();
  }
}
