// The generator in the browser, from a checkpoint file chosen in the page: the
// oracle's formula weights (seed 7) in the released legacy layout, which the
// authors' code turned into gen_out.npy. Batch 2: SwiftShader is slow.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { FIREFOX, openApp, backendOf, modelState } from './harness.mjs';
import { readNpy, firstItems, maxAbsDiff } from './npy.mjs';

const FIXTURES = new URL('../fixtures/', import.meta.url).pathname;
const GENERATED = process.env.WAV2LIP_FIXTURES ?? join(homedir(), '.cache/wav2lip/fixtures');
const CHECKPOINT = join(GENERATED, 'formula7.pth');
const BATCH = 2;

function oracle() {
  if (!existsSync(CHECKPOINT)) throw new Error(`${CHECKPOINT} is missing: run \`make test\` (it writes it with the CLI)`);
  const take = (name) => firstItems(readNpy(join(FIXTURES, name)), BATCH).data;
  return { mel: take('gen_mel.npy'), face: take('gen_face.npy'), expected: take('gen_out.npy') };
}

async function generateIn(page, { mel, face }, batch = BATCH) {
  return page.evaluate(async ([mel, face, batch]) => {
    const { out, seconds } = await window.wav2lip.call('generate', { mel: new Float32Array(mel), face: new Float32Array(face), batch });
    return { out: Array.from(out), seconds };
  }, [Array.from(mel), Array.from(face), batch]);
}

// The oracle's frames one call each: on the threads build, a batch with
// fewer frames than threads shares each layer's pieces instead of frames.
async function oneByOne(page, { mel, face }) {
  const out = [];
  for (let b = 0; b < BATCH; b++) {
    const part = (values) => values.slice((b * values.length) / BATCH, ((b + 1) * values.length) / BATCH);
    out.push(...(await generateIn(page, { mel: part(mel), face: part(face) }, 1)).out);
  }
  return out;
}

// The CPU path in both threads builds of the core: relaxed SIMD (fused
// multiply-adds: rounded once, so not bit-equal to the baseline) and
// baseline SIMD; WebGPU in the other build.
for (const [backend, simd, tolerance] of [['webgpu', null, 1e-3], ['cpu', 'relaxed', 1e-4], ['cpu', 'simd128', 1e-4]]) {
  const build = simd ? ` (${simd === 'relaxed' ? 'relaxed SIMD' : 'baseline SIMD'} build)` : '';
  const skip = FIREFOX && backend === 'webgpu' && 'Firefox offers no WebGPU adapter on Linux';
  test(`a checkpoint chosen in the page runs on ${backend}${build} and matches the original to ${tolerance}; a reload finds it kept`, { skip }, async () => {
    const data = oracle();
    const app = await openApp(`/?backend=${backend}${simd ? `&simd=${simd}` : ''}`);
    try {
      assert.equal(await backendOf(app.page), backend);
      if (simd) {
        // Each SIMD level as asked (unasked, the worker times both and takes
        // the faster); the page is cross-origin isolated, so on threads.
        assert.match(await app.page.locator('#backend').textContent(), simd === 'relaxed' ? /WebAssembly, relaxed SIMD, \d+ threads/ : /WebAssembly, SIMD, \d+ threads/);
      }
      await modelState(app.page, 'none');
      await app.page.setInputFiles('#model-file', CHECKPOINT);
      const status = await modelState(app.page, 'ready');
      assert.match(status, /formula7\.pth \(plain\) loaded, ready/);
      assert.doesNotMatch(status, /could not be kept/);
      // A reload at once, while this page's helpers still read the copy
      // just kept (a file has one reader at a time): it waits its turn.
      await app.page.reload();
      assert.match(await modelState(app.page, ['ready', 'error'], 60_000), /formula7\.pth \(plain\) from an earlier visit, ready/);

      const first = await generateIn(app.page, data);
      const error = maxAbsDiff(first.out, data.expected);
      console.log(`${backend}${build}: batch ${BATCH} in ${first.seconds.toFixed(1)} s, max abs error ${error.toExponential(2)}`);
      assert.ok(error <= tolerance, `max abs error ${error}`);

      // The next visit: the converted copy in OPFS, with no file chosen.
      await app.page.reload();
      assert.match(await modelState(app.page, 'ready'), /formula7\.pth \(plain\) from an earlier visit, ready/);
      const again = await generateIn(app.page, data);
      assert.equal(maxAbsDiff(again.out, first.out), 0, 'the kept copy holds the exact weights');
      if (backend === 'cpu') {
        const single = maxAbsDiff(await oneByOne(app.page, data), data.expected);
        console.log(`${backend}${build}: one frame a call (layers shared over the threads), max abs error ${single.toExponential(2)}`);
        assert.ok(single <= tolerance, `one frame a call: max abs error ${single}`);
      }
      assert.deepEqual(app.foreignRequests, []);
    } finally {
      await app.close();
    }
  });
}

// A host that does not send the isolation headers: no shared memory, so no
// threads build; the WebGPU build runs the CPU path with a helper worker
// per spare core, each with its own model.
test('without cross-origin isolation the CPU path runs on helper workers and matches the original', async () => {
  const data = oracle();
  const app = await openApp('/?backend=cpu', { isolated: false });
  try {
    assert.equal(await app.page.evaluate(() => crossOriginIsolated), false);
    assert.equal(await backendOf(app.page), 'cpu');
    assert.match(await app.page.locator('#backend').textContent(), /WebAssembly, SIMD\)/);
    await modelState(app.page, 'none');
    await app.page.setInputFiles('#model-file', CHECKPOINT);
    await modelState(app.page, 'ready');
    const workers = await app.page.evaluate(() => window.wav2lip.call('workers'));
    const cores = await app.page.evaluate(() => navigator.hardwareConcurrency);
    assert.equal(workers, Math.min(4, cores), 'this worker and a helper per spare core');
    const { out } = await generateIn(app.page, data);
    const error = maxAbsDiff(out, data.expected);
    console.log(`cpu without isolation (${workers} workers): max abs error ${error.toExponential(2)}`);
    assert.ok(error <= 1e-4, `max abs error ${error}`);
  } finally {
    await app.close();
  }
});

test('files that are not the generator are refused with what they are', async () => {
  const app = await openApp('/?backend=cpu');
  try {
    await backendOf(app.page);
    await modelState(app.page, 'none');
    await app.page.setInputFiles('#model-file', join(FIXTURES, 'layout_zip.pth'));
    assert.match(await modelState(app.page, 'error'), /layout_zip\.pth: this looks like a modified or partial Wav2Lip generator/);
    await app.page.setInputFiles('#model-file', { name: 'notes.pth', mimeType: 'application/octet-stream', buffer: Buffer.from('not a checkpoint at all') });
    assert.match(await modelState(app.page, 'error'), /notes\.pth: not a readable checkpoint/);
    const empty = await app.page.evaluate(() => window.wav2lip.call('generate', { mel: new Float32Array(1280), face: new Float32Array(55296), batch: 1 }).catch((e) => e.message));
    assert.match(empty, /no model loaded/);
  } finally {
    await app.close();
  }
});

/** Wait until the model's status line reads `pattern` (it may say something else first). */
async function modelSays(page, pattern) {
  await page.waitForFunction(([source, flags]) => new RegExp(source, flags).test(document.querySelector('#model-status').textContent),
    [pattern.source, pattern.flags], { timeout: 300_000 });
}

test('a model the site offers downloads from its own origin; plain and GAN are both kept, switched between, and removed', async () => {
  // A deployment that lists the GAN checkpoint in models/manifest.json.
  const deployment = mkdtempSync(join(tmpdir(), 'wav2lip-models-'));
  writeFileSync(join(deployment, 'manifest.json'), JSON.stringify({ models: [{ name: 'wav2lip_gan.pth', url: '/generated/formula7.pth' }] }));
  const app = await openApp('/?backend=cpu', { mounts: { '/models/': deployment } });
  const { page } = app;
  try {
    await backendOf(page);
    await modelState(page, 'none');
    await page.click('text=Get wav2lip_gan.pth from this site');
    await modelSays(page, /Model: wav2lip_gan\.pth \(GAN\) loaded, ready/);
    await page.setInputFiles('#model-file', CHECKPOINT);
    await modelSays(page, /Model: formula7\.pth \(plain\) loaded, ready/);

    await page.locator('#model-use').waitFor({ state: 'visible' }); // both kinds kept: a choice
    await page.selectOption('#model-use', 'gan');
    await modelSays(page, /Model: wav2lip_gan\.pth \(GAN\) kept here, ready/);
    await page.reload();
    await modelSays(page, /wav2lip_gan\.pth \(GAN\) from an earlier visit, ready/);
    await page.waitForFunction(() => /This site stores \d+ MB here/.test(document.querySelector('#model-storage').textContent));

    await page.click('#model-remove');
    await modelSays(page, /Removed the GAN model\. Model: formula7\.pth \(plain\) kept here, ready/);
    await page.locator('#model-use').waitFor({ state: 'hidden' });
    await page.click('#model-remove');
    await modelSays(page, /Removed the plain model from this browser\. No model yet/);
    await page.locator('#model-kept').waitFor({ state: 'hidden' });
    const empty = await page.evaluate(() => window.wav2lip.call('generate', { mel: new Float32Array(1280), face: new Float32Array(55296), batch: 1 }).catch((e) => e.message));
    assert.match(empty, /no model loaded/);
    assert.deepEqual(app.foreignRequests, []);
  } finally {
    await app.close();
  }
});
