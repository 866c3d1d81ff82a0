// Live mode's figures on this machine: Chromium's fake camera and microphone
// play a clip (default: the test media's camera.y4m and mic.wav, looped)
// into the page in live mode for SECONDS (default 30), recording for the
// middle third. Prints the latency (sound heard → its frame on screen:
// median and 90th percentile of the page's readings, twice a second, and
// its parts: waiting for the sound, making the frame, passing it), the
// sustained rate (frames shown a second), frames dropped to keep up, the
// core's time a frame, and memory at the start and the end (the core's
// wasm memory, the page's heap). BACKEND=webgpu for a GPU.
//
//   node tests/bench/live.mjs [CAMERA.y4m] [MIC.wav]
import { join } from 'node:path';
import { GENERATED, openApp, backendOf, modelState, statusState } from '../e2e/harness.mjs';

const camera = process.argv[2] ?? join(GENERATED, 'camera.y4m');
const mic = process.argv[3] ?? join(GENERATED, 'mic.wav');
const seconds = Number(process.env.SECONDS_LIVE ?? 30);
const backend = process.env.BACKEND ?? 'cpu';
const mb = (bytes) => (bytes / 1e6).toFixed(0);

// The page asks the camera for 640×480; CAMERA_SIZE=1280x720 asks for more.
const size = process.env.CAMERA_SIZE ? `&camera=${process.env.CAMERA_SIZE}` : '';
const app = await openApp(`/?backend=${backend}${size}`, { args: [`--use-file-for-fake-video-capture=${camera}`, `--use-file-for-fake-audio-capture=${mic}`] });
const { page } = app;
try {
  console.log(`backend: ${await backendOf(page)}`);
  await page.setInputFiles('#model-file', join(GENERATED, 'formula7.pth'));
  await modelState(page, 'ready', 600_000);
  await page.click('#live-start');
  const started = await statusState(page, '#live-status', ['ready', 'error'], 60_000);
  if (!started.startsWith('Live:')) throw new Error(started);
  await page.waitForFunction(() => Number(document.querySelector('#live-stats').dataset.made) >= 3, null, { timeout: 120_000 });
  const stats = () => page.evaluate(() => ({ ...document.querySelector('#live-stats').dataset }));
  const memory = () => page.evaluate(async () => ({ ...(await window.wav2lip.call('memory')), page: performance.memory?.usedJSHeapSize ?? 0 }));
  const first = { stats: await stats(), memory: await memory(), at: performance.now() };
  const latencies = [];
  const parts = { waited: [], making: [], passing: [] };
  for (let k = 0; k < seconds * 2; k++) {
    if (k === Math.round(seconds * 2 / 3)) await page.click('#live-record');
    if (k === Math.round(seconds * 4 / 3)) await page.click('#live-record');
    await new Promise((done) => setTimeout(done, 500));
    const now = await stats();
    latencies.push(Number(now.latency));
    for (const part in parts) parts[part].push(Number(now[part]));
  }
  const last = { stats: await stats(), memory: await memory(), at: performance.now() };
  await page.waitForSelector('#live-result:not([hidden])', { timeout: 60_000 });
  await page.click('#live-start');
  const span = (last.at - first.at) / 1000;
  const made = Number(last.stats.made) - Number(first.stats.made);
  const dropped = Number(last.stats.dropped) - Number(first.stats.dropped);
  const quantile = (values, q) => values.toSorted((a, b) => a - b)[Math.min(values.length - 1, Math.floor(q * values.length))];
  const at = (q) => quantile(latencies, q);
  const shape = await page.evaluate(() => `${document.querySelector('#live-view').width}×${document.querySelector('#live-view').height}`);
  console.log(`live, ${backend}, a ${shape} camera, ${span.toFixed(0)} s (recording for a third of it):`);
  console.log(`  latency        median ${at(0.5).toFixed(2)} s, 90th percentile ${at(0.9).toFixed(2)} s`);
  console.log(`  of which        ${Object.entries(parts).map(([part, values]) => `${part} ${quantile(values, 0.5).toFixed(2)} s`).join(', ')} (medians)`);
  console.log(`  rate           ${(made / span).toFixed(1)} frames/s sustained (${made} made, ${dropped} camera frames dropped)`);
  console.log(`  core per frame ${last.stats.compute} ms (mean over the run)`);
  console.log(`  memory         core ${mb(first.memory.wasm)} → ${mb(last.memory.wasm)} MB, page heap ${mb(first.memory.page)} → ${mb(last.memory.page)} MB`);
} finally {
  await app.close();
}
