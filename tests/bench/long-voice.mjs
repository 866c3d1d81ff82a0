// The longest voice a person may bring: three hours (a lecture, an
// audiobook chapter), with a photo, through the page. How long the voice
// takes to load, what it costs in memory, and that the job starts and runs
// at its usual speed; the job is cancelled after FRAMES frames (three hours
// of video would take hours here). Not a test: it prints figures.
//
//   node tests/bench/long-voice.mjs      (VOICE_SECONDS=10800 FRAMES=100)
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { GENERATED, openApp, backendOf, modelState, statusState } from '../e2e/harness.mjs';

const seconds = Number(process.env.VOICE_SECONDS ?? 10_800);
const frames = Number(process.env.FRAMES ?? 100);
const voice = join(GENERATED, `voice-${seconds}s.ogg`);
if (!existsSync(voice)) {
  // The test sentence looped, as Opus at 24 kb/s (a podcast's rate): 32 MB for three hours.
  execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-stream_loop', '-1', '-i', join(GENERATED, 'short.wav'),
    '-t', String(seconds), '-c:a', 'libopus', '-b:a', '24k', voice]);
}
const mib = (bytes) => (bytes / 2 ** 20).toFixed(0);

const app = await openApp('/?backend=cpu');
const { page } = app;
try {
  await backendOf(page);
  await page.setInputFiles('#model-file', join(GENERATED, 'formula7.pth'));
  await modelState(page, 'ready', 600_000);
  await page.setInputFiles('#face-file', join(GENERATED, 'odd/face.webp'));
  await statusState(page, '#face-status', 'ready');
  const before = await page.evaluate(() => window.wav2lip.call('memory'));
  let started = Date.now();
  await page.setInputFiles('#voice-file', voice);
  const heard = await statusState(page, '#voice-status', ['ready', 'error'], 1_800_000);
  const loadSeconds = (Date.now() - started) / 1000;
  const loaded = await page.evaluate(() => window.wav2lip.call('memory'));
  console.log(`${heard} (${loadSeconds.toFixed(0)} s to load; core wasm ${mib(before.wasm)} → ${mib(loaded.wasm)} MiB)`);

  started = Date.now();
  await page.click('#run');
  let peak = 0;
  let status = '';
  for (;;) {
    const { wasm, helpers } = await page.evaluate(() => window.wav2lip.call('memory'));
    peak = Math.max(peak, wasm + helpers);
    status = await page.locator('#run-status').textContent();
    const done = Number(status.match(/^(\d+) \/ \d+ frames/)?.[1] ?? 0);
    if (done >= frames || (await page.locator('#run-status').getAttribute('data-state')) !== 'loading') break;
    await page.waitForTimeout(1000);
  }
  const wall = (Date.now() - started) / 1000;
  console.log(`job: "${status}" after ${wall.toFixed(0)} s; peak wasm (core + helpers) ${mib(peak)} MiB`);
  await page.click('#cancel');
  console.log(await statusState(page, '#run-status', ['none', 'ready', 'error'], 600_000));
} finally {
  await app.close();
}
