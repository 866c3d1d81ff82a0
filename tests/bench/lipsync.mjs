// The whole app on a long 720p clip, through the page: frames per second and
// peak memory (the core's wasm memory, its CPU helpers' and the worker's JS
// heap, sampled every second, and the page's JS heap). Not a test: it prints figures.
//
//   node tests/bench/lipsync.mjs [CHECKPOINT.pth]     (CLIP_SECONDS=600 BACKEND=auto FRAMES=)
//
// FRAMES=N cancels the job once N frames are done (a slow CPU would take
// hours over 10 minutes of video): the long voice, the long video's index
// and the job's buffers are all in memory by then, only the last write of
// the file is not.
// The clip is the test clip (scripts/test-clips.sh) looped to SECONDS at
// 1280×720 with its voice looped too, made with ffmpeg in the fixtures cache.
// The worker's JS heap is reported where the browser exposes it
// (`performance.memory` is page-only in Chromium); the frames it holds are a
// few at a time.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { openApp, backendOf, modelState, statusState } from '../e2e/harness.mjs';

const seconds = Number(process.env.CLIP_SECONDS ?? 600);
const backend = process.env.BACKEND ?? 'auto';
const limit = Number(process.env.FRAMES ?? Infinity);
const fixtures = process.env.WAV2LIP_FIXTURES ?? join(homedir(), '.cache/wav2lip/fixtures');
const checkpoint = process.argv[2] ?? join(fixtures, 'formula7.pth');
const clip = join(fixtures, `long-${seconds}s-720p.mp4`);
if (!existsSync(clip)) {
  execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-stream_loop', '-1', '-i', join(fixtures, 'talking.mp4'),
    '-t', String(seconds), '-vf', 'scale=1280:720', '-c:v', 'libx264', '-preset', 'veryfast', '-crf', '20', '-c:a', 'aac', clip]);
}

const app = await openApp(`/?backend=${backend}`);
const { page } = app;
try {
  const used = await backendOf(page);
  await page.setInputFiles('#model-file', checkpoint);
  await modelState(page, 'ready', 600_000);
  await page.setInputFiles('#face-file', clip);
  await statusState(page, '#face-status', 'ready');
  await page.setInputFiles('#voice-file', clip);
  await statusState(page, '#voice-status', 'ready');
  const peak = { wasm: 0, helpers: 0, worker: null, page: 0 };
  const sample = async () => {
    const { wasm, helpers, jsHeap } = await page.evaluate(() => window.wav2lip.call('memory'));
    peak.helpers = Math.max(peak.helpers, helpers);
    const heap = await page.evaluate(() => performance.memory?.usedJSHeapSize ?? 0);
    peak.wasm = Math.max(peak.wasm, wasm);
    if (jsHeap !== null) peak.worker = Math.max(peak.worker ?? 0, jsHeap);
    peak.page = Math.max(peak.page, heap);
  };
  const started = Date.now();
  await page.click('#run');
  let status;
  let frames = 0;
  let wall = 0;
  for (;;) {
    await sample();
    status = await page.locator('#run-status').textContent();
    const state = await page.locator('#run-status').getAttribute('data-state');
    if (state !== 'loading') break;
    const done = Number(status.match(/^(\d+) \/ \d+ frames/)?.[1] ?? 0);
    if (done > frames) [frames, wall] = [done, (Date.now() - started) / 1000];
    if (frames >= limit && !(await page.locator('#cancel').isDisabled())) await page.click('#cancel');
    await page.waitForTimeout(1000);
  }
  if (/^Done/.test(status)) [frames, wall] = [Number(status.match(/Done: (\d+) frames/)[1]), (Date.now() - started) / 1000];
  const mb = (bytes) => (bytes / 2 ** 20).toFixed(0);
  console.log(status);
  // The core's share of the time, by stage (the rest: decoding, encoding, the page).
  const stages = await page.evaluate(() => window.wav2lip.call('jobTimings'));
  const perFrame = Object.entries(stages).map(([stage, ms]) => `${stage} ${(ms / frames).toFixed(1)}`).join(', ');
  console.log(`core, ms per frame by stage: ${perFrame}; wall ${(1000 * wall / frames).toFixed(1)}`);
  console.log(`frames a batch at the end: ${await page.locator('#run-status').getAttribute('title')}`);
  console.log(`lip sync, ${seconds} s of 1280x720 at 25 fps on ${used}: ${frames} frames in ${wall.toFixed(0)} s = ${(frames / wall).toFixed(2)} frames/s end to end; ` +
    `peak memory: wasm ${mb(peak.wasm)} MiB + helpers' wasm ${mb(peak.helpers)} MiB + worker JS heap ${peak.worker === null ? 'n/a' : `${mb(peak.worker)} MiB`} + page JS heap ${mb(peak.page)} MiB = ${mb(peak.wasm + peak.helpers + (peak.worker ?? 0) + peak.page)} MiB`);
} finally {
  await app.close();
}
