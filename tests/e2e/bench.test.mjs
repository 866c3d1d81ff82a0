// The benchmark page works (its figures are read by people, not asserted):
// a checkpoint chosen there, the CPU backend, batch 1, one run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openApp, statusState, GENERATED } from './harness.mjs';

test('the benchmark page measures the generator on a backend and shows a row per batch size', async () => {
  const app = await openApp('/bench.html');
  const { page } = app;
  try {
    await page.setInputFiles('#bench-model', join(GENERATED, 'formula7.pth'));
    await page.uncheck('input[value=webgpu]');
    await page.fill('#bench-batches', '1,2');
    await page.fill('#bench-runs', '1');
    await page.click('#bench-run');
    assert.match(await statusState(page, '#bench-status', ['ready', 'error'], 300_000), /^Done: 2 measurements/);
    const rows = await page.$$eval('#bench-results tbody tr', (trs) => trs.map((tr) => ({ ...tr.dataset })));
    console.log(rows.map(({ batch, ms }) => `cpu batch ${batch}: ${ms} ms/frame`).join('; '));
    assert.deepEqual(rows.map(({ backend, batch }) => [backend, batch]), [['cpu', '1'], ['cpu', '2']]);
    assert.ok(rows.every(({ ms }) => Number(ms) > 0));
    assert.deepEqual(app.foreignRequests, []);
  } finally {
    await app.close();
  }
});
