// The page reports which compute backend the core got.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openApp, backendOf } from './harness.mjs';

test('page names the software WebGPU adapter and falls back to the CPU path', async () => {
  const app = await openApp('/');
  try {
    assert.equal(await backendOf(app.page), 'cpu');
    const text = await app.page.locator('#backend').innerText();
    assert.match(text, /WebGPU adapter: .*swiftshader.*\(software adapter\)/);
    assert.match(text, /Compute: CPU \(WebAssembly, (relaxed )?SIMD, \d+ threads\) — .*software adapter/);
    assert.deepEqual(app.foreignRequests, []);
  } finally {
    await app.close();
  }
});

test('page uses WebGPU when asked to, even on a software adapter', async () => {
  const app = await openApp('/?backend=webgpu');
  try {
    assert.equal(await backendOf(app.page), 'webgpu');
    assert.match(await app.page.locator('#backend').innerText(), /Compute: WebGPU — WebGPU was requested/);
  } finally {
    await app.close();
  }
});

test('page says the CPU path is used when the browser has no WebGPU', async () => {
  const app = await openApp('/', { webgpu: false });
  try {
    assert.equal(await backendOf(app.page), 'cpu');
    const text = await app.page.locator('#backend').innerText();
    assert.match(text, /Compute: CPU \(WebAssembly, (relaxed )?SIMD, \d+ threads\) — this browser offers no WebGPU adapter/);
    assert.match(text, /WebGPU adapter: none/);
  } finally {
    await app.close();
  }
});

test('the served page is cross-origin isolated and forbids foreign connections', async () => {
  const app = await openApp('/');
  try {
    await backendOf(app.page);
    assert.equal(await app.page.evaluate(() => crossOriginIsolated), true);
    const response = await app.page.request.get(app.origin + '/www/pkg/wav2lip_bg.wasm');
    assert.equal(response.headers()['content-type'], 'application/wasm');
    assert.match(response.headers()['content-security-policy'], /connect-src 'self'/);
  } finally {
    await app.close();
  }
});

test('a browser that lacks what the app needs is told what, in one sentence, and nothing starts', async () => {
  const app = await openApp('/');
  try {
    // As a browser without WebCodecs' encoders (older Safari, Firefox before 130).
    await app.page.addInitScript(() => {
      delete self.VideoEncoder;
      delete self.AudioEncoder;
    });
    await app.page.reload();
    await app.page.waitForSelector('#backend[data-backend="unsupported"]', { timeout: 30_000 });
    const said = await app.page.locator('#backend').textContent();
    assert.equal(said, 'This browser cannot run the app: it lacks WebCodecs (VideoEncoder, AudioEncoder), for reading and writing video. Use a recent Chrome, Edge or Firefox (the browsers it is tested in; see the README).');
    assert.equal(await app.page.evaluate(() => 'wav2lip' in window), false, 'the core did not start');
  } finally {
    await app.close();
  }
});
