// Jobs back to back in one tab: does memory come back? Four jobs on the test
// clip (the third cancelled midway), and after each the tab's memory: the
// core's wasm memory, its CPU helpers', and the whole page's as the browser
// measures it (`performance.measureUserAgentSpecificMemory`: every worker's
// JS heap and wasm memory, the page's DOM and JS; the site is cross-origin
// isolated, which that needs), after a garbage collection. Not a test: it
// prints a table, and says whether the memory after jobs 2–4 stays within
// 10 % of its level after job 1.
//
//   node tests/bench/soak.mjs [FACE] [VOICE]     (default: the test clip for both)
import { join } from 'node:path';
import { GENERATED, openApp, backendOf, modelState, statusState } from '../e2e/harness.mjs';

const face = process.argv[2] ?? join(GENERATED, 'talking.mp4');
const voice = process.argv[3] ?? face;
const mib = (bytes) => (bytes / 2 ** 20).toFixed(1);

const app = await openApp('/?backend=cpu', {
  // A measurement at once rather than at the browser's next idle moment, and gc() for a clean one.
  args: ['--enable-blink-features=ForceEagerMeasureMemory', '--js-flags=--expose-gc'],
});
const { page } = app;

/** The tab's memory now, after a collection in the page (workers collect on their own). */
async function memory() {
  return page.evaluate(async () => {
    window.gc?.();
    const { wasm, helpers } = await window.wav2lip.call('memory');
    const total = (await performance.measureUserAgentSpecificMemory()).bytes;
    return { wasm, helpers, total, heap: performance.memory?.usedJSHeapSize ?? 0 };
  });
}

try {
  await backendOf(page);
  await page.setInputFiles('#model-file', join(GENERATED, 'formula7.pth'));
  await modelState(page, 'ready', 600_000);
  await page.setInputFiles('#face-file', face);
  await statusState(page, '#face-status', 'ready');
  await page.setInputFiles('#voice-file', voice);
  await statusState(page, '#voice-status', 'ready');
  const rows = [['before the first job', await memory()]];
  for (const [n, cancel] of [[1, false], [2, false], [3, true], [4, false]]) {
    await page.click('#run');
    if (cancel) {
      // Midway: once half the frames are done.
      await page.waitForFunction(() => {
        const [, done, total] = document.querySelector('#run-status').textContent.match(/^(\d+) \/ (\d+) frames/) ?? [];
        return done && Number(done) >= Number(total) / 2;
      }, null, { timeout: 600_000 });
      await page.click('#cancel');
      await statusState(page, '#run-status', ['none', 'error'], 600_000);
    } else {
      const done = await statusState(page, '#run-status', ['ready', 'error'], 1_800_000);
      if (!/^Done/.test(done)) throw new Error(`job ${n}: ${done}`);
    }
    // Give the workers a moment to settle (their collectors run when idle).
    await page.waitForTimeout(3000);
    rows.push([`after job ${n}${cancel ? ' (cancelled midway)' : ''}`, await memory()]);
  }
  console.log('| when | core wasm (MiB) | helpers wasm (MiB) | page JS heap (MiB) | whole tab, measured (MiB) |\n|---|---|---|---|---|');
  for (const [when, m] of rows) console.log(`| ${when} | ${mib(m.wasm)} | ${mib(m.helpers)} | ${mib(m.heap)} | ${mib(m.total)} |`);
  const level = rows[1][1].total;
  const worst = Math.max(...rows.slice(2).map(([, m]) => m.total));
  console.log(`after job 1: ${mib(level)} MiB; the most after jobs 2-4: ${mib(worst)} MiB (${((worst / level - 1) * 100).toFixed(1)} %): ${worst <= level * 1.1 ? 'no leak' : 'GROWS'}`);
} finally {
  await app.close();
}
