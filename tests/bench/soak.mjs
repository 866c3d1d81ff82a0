// Jobs back to back in one tab: does memory come back? Four jobs on the test
// clip (the third cancelled midway), and after each the tab's memory: the
// core's wasm memory, its CPU helpers', the page's JS heap, and, after a
// garbage collection in the page and every worker, the tab's renderer process as the system sees it (its
// resident memory: the page, its workers' JS heaps and wasm memories, the
// decoders' and encoders' buffers — everything the tab holds). Not a test:
// it prints a table, and says whether the renderer after jobs 2–4 stays
// within 10 % of its level after job 1.
//
//   node tests/bench/soak.mjs [FACE] [VOICE]     (default: the test clip for both; JOBS=4)
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GENERATED, openApp, backendOf, modelState, statusState } from '../e2e/harness.mjs';

const face = process.argv[2] ?? join(GENERATED, 'talking.mp4');
const voice = process.argv[3] ?? face;
const mib = (bytes) => (bytes / 2 ** 20).toFixed(1);

// gc() in the page, for a clean reading of its heap.
const GC_FLAG = '--js-flags=--expose-gc';
const app = await openApp('/?backend=cpu', { args: [GC_FLAG] });
const { page } = app;

/**
 * Resident bytes of this browser's renderer processes (the tab's; Linux
 * /proc): they carry the --js-flags this bench starts Chromium with.
 */
function rendererBytes() {
  let bytes = 0;
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (!command.includes('--type=renderer') || !command.includes(GC_FLAG)) continue;
      bytes += Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/)[1]) * 1024;
    } catch {
      // A process that ended meanwhile.
    }
  }
  return bytes;
}

/** The tab's memory now, after a collection everywhere. */
async function memory() {
  // A collection in every worker too (the core's, its helpers'), then in the page.
  for (const worker of page.workers()) await worker.evaluate(() => self.gc?.()).catch(() => {});
  const inPage = await page.evaluate(async () => {
    window.gc?.();
    const { wasm, helpers } = await window.wav2lip.call('memory');
    return { wasm, helpers, heap: performance.memory?.usedJSHeapSize ?? 0 };
  });
  return { ...inPage, total: rendererBytes() };
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
  // JOBS=N runs N jobs (the third still cancelled), to see where memory settles.
  const jobs = Array.from({ length: Number(process.env.JOBS ?? 4) }, (_, i) => [i + 1, i === 2]);
  for (const [n, cancel] of jobs) {
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
  console.log('| when | core wasm (MiB) | helpers wasm (MiB) | page JS heap (MiB) | renderer processes, resident (MiB) |\n|---|---|---|---|---|');
  for (const [when, m] of rows) console.log(`| ${when} | ${mib(m.wasm)} | ${mib(m.helpers)} | ${mib(m.heap)} | ${mib(m.total)} |`);
  const level = rows[1][1].total;
  const worst = Math.max(...rows.slice(2).map(([, m]) => m.total));
  console.log(`after job 1: ${mib(level)} MiB; the most after jobs 2-4: ${mib(worst)} MiB (${((worst / level - 1) * 100).toFixed(1)} %): ${worst <= level * 1.1 ? 'no leak' : 'GROWS'}`);
} finally {
  await app.close();
}
