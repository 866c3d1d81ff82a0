// The app as an installable PWA: after one visit online, the service worker
// serves it with the network off and a whole (short) job runs; a new
// deployment is offered as a reload and its old cache goes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openApp, backendOf, modelState, statusState, GENERATED } from './harness.mjs';

const ROOT = new URL('../../', import.meta.url).pathname;

test('after one visit the app installs, updates to a new deployment on request, and runs a whole job offline', async () => {
  // A "next deployment": the same files under another version, served in
  // place of www/lib/ once the first visit is done.
  const next = mkdtempSync(join(tmpdir(), 'wav2lip-next-'));
  cpSync(join(ROOT, 'www/lib'), next, { recursive: true });
  const list = readFileSync(join(next, 'precache.js'), 'utf8');
  writeFileSync(join(next, 'precache.js'), list.replace(/"version": "[0-9a-f]+"/, '"version": "next"'));
  const mounts = {};
  const app = await openApp('/?backend=cpu', { mounts });
  const { page } = app;
  try {
    await backendOf(page);
    await page.waitForSelector('#offline[data-offline="true"]', { timeout: 120_000 });
    assert.match(await page.locator('#offline').textContent(), /works offline/);
    const first = await page.evaluate(() => caches.keys());
    assert.equal(first.length, 1);
    assert.match(first[0], /^wav2lip-[0-9a-f]{16}$/);

    // The web app manifest: what an install needs.
    const manifest = await page.evaluate(async () => {
      const link = document.querySelector('link[rel=manifest]');
      const json = await (await fetch(link.href)).json();
      const icons = await Promise.all(json.icons.map(async ({ src, sizes, type }) => {
        const response = await fetch(new URL(src, link.href));
        const bitmap = await createImageBitmap(await response.blob());
        return { sizes, type, actual: `${bitmap.width}x${bitmap.height}` };
      }));
      return { ...json, icons };
    });
    assert.equal(manifest.name, 'Wav2Lip studio');
    assert.equal(manifest.display, 'standalone');
    assert.ok(manifest.start_url);
    for (const size of ['192x192', '512x512']) {
      assert.ok(manifest.icons.some((icon) => icon.sizes === size && icon.type === 'image/png' && icon.actual === size), `a ${size} PNG icon`);
    }

    // A new deployment: found, offered, taken on request, the old cache gone.
    mounts['/www/lib/'] = next;
    await page.evaluate(async () => (await navigator.serviceWorker.getRegistration()).update());
    await page.waitForSelector('#update:not([hidden])', { timeout: 120_000 });
    await Promise.all([page.waitForEvent('load', { timeout: 120_000 }), page.click('#update button')]);
    await backendOf(page);
    await page.waitForFunction(async () => (await caches.keys()).join() === 'wav2lip-next', null, { timeout: 60_000 });

    // Offline: the page, the core, the detector all come from the cache; the
    // user's files from the disk.
    await app.goOffline();
    await page.reload();
    assert.equal(await backendOf(page), 'cpu');
    assert.equal(await page.evaluate(() => Boolean(navigator.serviceWorker.controller)), true);
    await page.setInputFiles('#model-file', join(GENERATED, 'formula7.pth'));
    await modelState(page, 'ready');
    await page.setInputFiles('#face-file', join(ROOT, 'tests/fixtures/astronaut.png'));
    assert.match(await statusState(page, '#face-status', ['ready', 'error']), /one face found/);
    await page.setInputFiles('#voice-file', join(GENERATED, 'short.wav'));
    await statusState(page, '#voice-status', 'ready');
    await page.click('#run');
    const done = await statusState(page, '#run-status', ['ready', 'error'], 600_000);
    console.log(`offline: ${done}`);
    assert.match(done, /^Done: \d+ frames, 512×512 at 25\.00 fps/);

    // The storage the model and the video take is shown, and cleared on request.
    const used = () => page.evaluate(async () => (await navigator.storage.estimate()).usage);
    const before = await used();
    assert.match(await page.locator('#storage').textContent(), /This site stores \d+ MB here/);
    await page.click('#clear-storage');
    await page.waitForFunction(() => /Removed the kept models and videos/.test(document.querySelector('#model-status').textContent));
    assert.ok(await used() < before - 100e6, 'the 145 MB model copy is gone');
    assert.equal(await page.locator('#run').isEnabled(), false, 'no model now');
    assert.deepEqual(app.foreignRequests, []);
  } finally {
    await app.close();
    rmSync(next, { recursive: true, force: true });
  }
});
