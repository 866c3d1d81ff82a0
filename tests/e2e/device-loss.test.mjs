// The GPU goes away mid-job (a driver reset, the GPU process gone; here the
// WebGPU device destroyed through the core's test hook): the job goes on on
// the CPU from the batch that failed, no frame lost or repeated, and the
// page says so. On Chromium's software WebGPU adapter (SwiftShader), with a
// photo and a short voice, so that the GPU part stays short.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { GENERATED, openApp, backendOf, made, modelState, statusState } from './harness.mjs';

test('a GPU lost mid-job: the job finishes on the CPU with every frame, and the page says so', async () => {
  const app = await openApp('/?backend=webgpu');
  const { page } = app;
  try {
    assert.equal(await backendOf(page), 'webgpu');
    await page.setInputFiles('#model-file', join(GENERATED, 'formula7.pth'));
    await modelState(page, 'ready', 600_000);
    await page.setInputFiles('#face-file', join(GENERATED, 'odd/face.webp'));
    await statusState(page, '#face-status', 'ready');
    await page.setInputFiles('#voice-file', join(GENERATED, 'short.wav'));
    await statusState(page, '#voice-status', 'ready');
    await page.click('#run');
    // The first batch done on the GPU, then the device lost.
    await page.waitForFunction(() => /^[1-9]\d* \/ \d+ frames/.test(document.querySelector('#run-status').textContent), null, { timeout: 600_000 });
    const before = await page.locator('#run-status').textContent();
    assert.equal(await page.evaluate(() => window.wav2lip.call('loseGpu')), true);
    const done = await statusState(page, '#run-status', ['ready', 'error'], 600_000);
    console.log(`lost after "${before}"; ${done}`);
    assert.match(done, /^Done: (\d+) frames/);
    const notice = await page.locator('#run-notice').textContent();
    assert.match(notice, /The GPU stopped working .*the rest of the job runs on the CPU/);
    assert.equal(await page.locator('#backend').getAttribute('data-backend'), 'cpu');
    const total = Number(done.match(/^Done: (\d+) frames/)[1]);
    const out = await made(page);
    assert.equal(out.frames, total, 'every frame is in the video once');
    assert.equal(Number(before.match(/\/ (\d+) frames/)[1]), total);
    assert.deepEqual(app.foreignRequests, []);
  } finally {
    await app.close();
  }
});
