// The core's convolution self-check, run inside the browser's worker on both
// compute backends: WebGPU (SwiftShader here) and the wasm CPU backend (flex).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openApp, backendOf } from './harness.mjs';

for (const backend of ['webgpu', 'cpu']) {
  test(`2-D convolution on ${backend} matches the CPU reference to 1e-4`, async () => {
    const app = await openApp(`/?backend=${backend}`);
    try {
      assert.equal(await backendOf(app.page), backend);
      const report = await app.page.evaluate(() => window.wav2lip.call('checkConvolution', { backend: 'active' }));
      console.log(`${backend}: ${JSON.stringify(report)}`);
      assert.deepEqual(report.outputShape, [1, 8, 8, 8]);
      assert.equal(report.values, 512);
      assert.ok(report.maxAbsError <= 1e-4, `max abs error ${report.maxAbsError}`);
      assert.equal(report.passed, true);
      assert.deepEqual(app.foreignRequests, []);
    } finally {
      await app.close();
    }
  });
}
