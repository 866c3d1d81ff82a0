// Shared set-up for the browser tests: the app's own server on a free port, and
// Debian's Chromium driven by playwright-core (never a downloaded browser).
import { chromium } from 'playwright-core';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { serve } from '../../scripts/serve.mjs';

/** The media `make test` generates (never committed), served under /generated/. */
export const GENERATED = process.env.WAV2LIP_FIXTURES ?? join(homedir(), '.cache/wav2lip/fixtures');

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

// Chromium's background services would try to reach Google; this machine's
// network refuses them, and the app must not depend on them anyway.
const QUIET = [
  '--no-sandbox',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  // A fake camera and microphone, allowed without asking, for recording tests.
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
];

/**
 * Serve the app and open it in Chromium. `webgpu: false` starts a browser
 * without WebGPU; `mounts` serves other folders under URL prefixes (see
 * scripts/serve.mjs). Every request that leaves the app's origin is recorded in
 * `foreignRequests`.
 */
export async function openApp(path = '/', { webgpu = true, mounts = {} } = {}) {
  // `mounts` is read on every request: a test may change what is served.
  Object.assign(mounts, { '/generated/': GENERATED });
  const server = await serve({ port: 0, mounts });
  const origin = `http://127.0.0.1:${server.address().port}`;
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [...QUIET, ...(webgpu ? ['--enable-unsafe-webgpu'] : [])],
  });
  const page = await browser.newPage();
  const foreignRequests = [];
  page.context().on('request', (request) => {
    const url = request.url();
    if (!url.startsWith(origin) && !url.startsWith('blob:') && !url.startsWith('data:')) {
      foreignRequests.push(url);
    }
  });
  const consoleErrors = [];
  page.on('console', (msg) => msg.type() === 'error' && consoleErrors.push(msg.text()));
  await page.goto(origin + path);
  return {
    page,
    origin,
    foreignRequests,
    consoleErrors,
    async close() {
      await browser.close();
      await new Promise((done) => server.close(done));
    },
  };
}

/** Wait until the page has started its core; returns the backend it chose. */
export async function backendOf(page) {
  await page.waitForSelector('#backend[data-backend]', { timeout: 120_000 });
  return page.locator('#backend').getAttribute('data-backend');
}

/**
 * Wait until the status line `element` (e.g. '#voice-status') is in one of
 * `states` (none, loading, ready, error); returns its text.
 */
export async function statusState(page, element, states, timeout = 300_000) {
  const selector = [states].flat().map((state) => `${element}[data-state="${state}"]`).join(', ');
  await page.waitForSelector(selector, { timeout });
  return page.locator(element).textContent();
}

/** The model's status line: see `statusState`. */
export function modelState(page, states, timeout) {
  return statusState(page, '#model-status', states, timeout);
}
