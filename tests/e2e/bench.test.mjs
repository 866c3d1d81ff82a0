// The benchmark page works (its figures are read by people, not asserted):
// a checkpoint chosen there, the CPU backend (with its helper worker on this
// 2-core machine), batches 1 and 2, one run, and the whole pipeline on the
// test clip. The ONNX Runtime Web rows need an exported model: see
// tests/bench/browser.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openApp, statusState, GENERATED } from './harness.mjs';

test('the benchmark page measures the generator on a backend, a row per batch size, and the whole pipeline', async () => {
  const app = await openApp('/bench.html');
  const { page } = app;
  try {
    await page.setInputFiles('#bench-model', join(GENERATED, 'formula7.pth'));
    await page.uncheck('input[name=backend][value=webgpu]');
    await page.setInputFiles('#bench-face', join(GENERATED, 'talking.mp4'));
    await page.setInputFiles('#bench-voice', join(GENERATED, 'short.wav'));
    await page.fill('#bench-batches', '1,2');
    await page.fill('#bench-runs', '1');
    await page.click('#bench-run');
    assert.match(await statusState(page, '#bench-status', ['ready', 'error'], 300_000), /^Done: 3 measurements/);
    const rows = await page.$$eval('#bench-results tbody tr', (trs) => trs.map((tr) => ({ ...tr.dataset })));
    const adapter = await page.$eval('#bench-results tbody tr', (tr) => tr.cells[2].textContent);
    console.log(`${adapter}: ${rows.map(({ batch, ms }) => `${batch}: ${ms} ms/frame`).join('; ')}`);
    assert.deepEqual(rows.map(({ engine, backend, batch }) => [engine, backend, batch]), [['wav2lip', 'cpu', '1'], ['wav2lip', 'cpu', '2'], ['wav2lip', 'cpu', 'pipeline']]);
    // The page is cross-origin isolated: the threads build, a thread per core.
    assert.match(adapter, /CPU \(WebAssembly, (relaxed )?SIMD\), \d+ threads/);
    assert.ok(rows.every(({ ms }) => Number(ms) > 0));
    assert.deepEqual(app.foreignRequests, []);
  } finally {
    await app.close();
  }
});
