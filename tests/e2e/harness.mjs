// Shared set-up for the browser tests: the app's own server on a free port, and
// Debian's Chromium driven by playwright-core (never a downloaded browser),
// or with BROWSER=firefox Debian's Firefox ESR (firefox.mjs).
import { chromium } from 'playwright-core';
import { FirefoxPage, launchFirefox } from './firefox.mjs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { serve } from '../../scripts/serve.mjs';

/** The media `make test` generates (never committed), served under /generated/. */
export const GENERATED = process.env.WAV2LIP_FIXTURES ?? join(homedir(), '.cache/wav2lip/fixtures');

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

/** The engine the tests run in: 'chromium' (default) or 'firefox'. */
export const ENGINE = process.env.BROWSER ?? 'chromium';
export const FIREFOX = ENGINE === 'firefox';

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
 * scripts/serve.mjs); `args` are more Chromium flags; `isolated: false`
 * serves the app without the cross-origin isolation headers (COOP, COEP),
 * as a host that does not send them would. Every request that leaves the app's origin is recorded in
 * `foreignRequests`.
 */
export async function openApp(path = '/', { webgpu = true, mounts = {}, args = [], isolated = true, deny = false } = {}) {
  // `mounts` is read on every request: a test may change what is served.
  Object.assign(mounts, { '/generated/': GENERATED });
  const server = await serve({ port: 0, mounts, isolated });
  const origin = `http://127.0.0.1:${server.address().port}`;
  const stopServer = () => new Promise((done) => {
    server.close(() => done());
    server.closeAllConnections();
  });
  if (FIREFOX) return openInFirefox(path, { server, origin, stopServer, deny });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [...QUIET, ...(webgpu ? ['--enable-unsafe-webgpu'] : []), ...args],
  });
  const page = await browser.newPage();
  // The context's requests: the page's, its workers' and service worker's.
  const watched = watch(page.context(), page, origin);
  await page.goto(origin + path);
  return {
    page,
    origin,
    ...watched,
    goOffline: () => page.context().setOffline(true),
    async close() {
      await browser.close();
      await stopServer();
    },
  };
}

/**
 * What a test checks the app never does: requests (as `requests` emits them:
 * Playwright's context or puppeteer's page) leaving `origin`, and errors on
 * `page`'s console. Both drivers' events have `url()`, `type()`, `text()`.
 */
function watch(requests, page, origin) {
  const foreignRequests = [];
  requests.on('request', (request) => {
    const url = request.url();
    if (!url.startsWith(origin) && !url.startsWith('blob:') && !url.startsWith('data:')) foreignRequests.push(url);
  });
  const consoleErrors = [];
  page.on('console', (msg) => msg.type() === 'error' && consoleErrors.push(msg.text()));
  return { foreignRequests, consoleErrors };
}

/** openApp in Firefox: the same app object, its page Playwright-shaped (firefox.mjs). */
async function openInFirefox(path, { origin, stopServer, deny }) {
  const browser = await launchFirefox({ deny });
  const page = await browser.newPage();
  const watched = watch(page, page, origin);
  await page.goto(origin + path);
  let serving = true;
  return {
    page: new FirefoxPage(page),
    origin,
    ...watched,
    async goOffline() {
      serving = false;
      await stopServer();
    },
    async close() {
      await browser.close();
      if (serving) await stopServer();
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

/**
 * The video the last job made, saved through the page's Download link as a
 * person saves it, into the generated media (served under /generated/made/):
 * its path, and its URL for the page.
 */
export async function saved(page) {
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
  const name = download.suggestedFilename();
  const path = join(GENERATED, 'made', name);
  await download.saveAs(path);
  return { path, url: `/generated/made/${encodeURIComponent(name)}`, name };
}

/**
 * The video the last job made, decoded in the page (mediabunny): size,
 * codec, frame count and length; its sound; its tags.
 */
export async function made(page) {
  return videoAt(page, (await saved(page)).url);
}

/** The video at `url` (the app's origin), decoded in the page: as `made`. */
export function videoAt(page, url) {
  return page.evaluate(async (url) => {
    const { ALL_FORMATS, BlobSource, Input } = await import('/www/lib/mediabunny.js');
    const blob = await (await fetch(url)).blob();
    const input = new Input({ source: new BlobSource(blob), formats: ALL_FORMATS });
    const video = await input.getPrimaryVideoTrack();
    const audio = await input.getPrimaryAudioTrack();
    const stats = await video.computePacketStats();
    return {
      width: video.displayWidth, height: video.displayHeight, codec: video.codec, frames: stats.packetCount,
      seconds: await video.computeDuration(),
      audio: audio && { codec: audio.codec, channels: audio.numberOfChannels, rate: audio.sampleRate, seconds: await audio.computeDuration() },
      tags: await input.getMetadataTags(),
    };
  }, url);
}
