// Debian's Firefox ESR for the browser tests, driven by puppeteer-core over
// WebDriver BiDi (Playwright drives only its own patched Firefox), behind
// the part of Playwright's page the tests use: the same test runs in both
// engines (harness.mjs picks by BROWSER=firefox).
//
// Where Firefox differs, this says how it is bridged:
// - File inputs: on reload Firefox keeps the chosen file and fires no
//   `change` for the same file chosen again; `setInputFiles` clears the
//   input first.
// - Downloads: a headless Firefox saves them where a person would be asked;
//   `waitForEvent('download')` reads the clicked link's blob in the page
//   instead (the file the link hands over, byte for byte).
// - Offline: BiDi has no switch for the network; the app's server stops
//   (`app.goOffline()`), which is what a lost network looks like to a page.
// - Sound: a headless Firefox with no sound output keeps an AudioContext
//   suspended; scripts/firefox-sound.sh gives it a PulseAudio null sink.
import puppeteer from 'puppeteer-core';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const FIREFOX = process.env.FIREFOX ?? '/usr/bin/firefox-esr';

/** Prefs for a test profile: fake camera and microphone, allowed or (`deny`) refused; no update checks or telemetry. */
function prefs({ deny = false } = {}) {
  return {
    'media.navigator.streams.fake': true,
    'media.navigator.permission.disabled': !deny,
    'permissions.default.camera': deny ? 2 : 1,
    'permissions.default.microphone': deny ? 2 : 1,
    'app.update.enabled': false,
    'datareporting.policy.dataSubmissionEnabled': false,
    'toolkit.telemetry.enabled': false,
    'browser.shell.checkDefaultBrowser': false,
    // Autoplay of a chosen voice file in live mode, as after a click.
    'media.autoplay.default': 0,
  };
}

/** Firefox with a fresh profile; `options.deny` refuses the camera and microphone. */
export async function launchFirefox(options = {}) {
  // No protocol time limit (as Playwright): a test's own step may take minutes
  // (decoding a 1080p result in the page took 200 s in a cold CI run); the
  // tests' waits carry their own timeouts.
  return puppeteer.launch({ browser: 'firefox', executablePath: FIREFOX, headless: true, protocolTimeout: 0, extraPrefsFirefox: prefs(options) });
}

const timeoutOf = (options) => ({ timeout: options?.timeout ?? 30_000 });

/**
 * Run in the page: whether the element `selector` is in `state`
 * ('attached', 'visible', 'hidden') and, given a RegExp's `source`, its text
 * matches. Visible as Playwright means it: a box, not `visibility: hidden`
 * (puppeteer's own wait missed a <select> that Firefox shows).
 */
function seen(selector, state, source, flags) {
  const element = document.querySelector(selector);
  if (state === 'attached') return Boolean(element);
  const box = element?.getBoundingClientRect();
  const visible = Boolean(box?.width && box?.height && getComputedStyle(element).visibility !== 'hidden');
  if (state === 'hidden') return !visible;
  return visible && (source === undefined || new RegExp(source, flags).test(element.textContent));
}

/** A Playwright-shaped page over a puppeteer one (only what the tests use). */
export class FirefoxPage {
  constructor(page) {
    this.page = page;
  }

  goto(url) {
    return this.page.goto(url);
  }

  reload() {
    return this.page.reload();
  }

  // Playwright passes one argument; puppeteer spreads them.
  evaluate(fn, arg) {
    return this.page.evaluate(fn, arg);
  }

  evaluateHandle(fn, arg) {
    return this.page.evaluateHandle(fn, arg);
  }

  /** An event of `type` on the element; `init.dataTransfer` may be a handle (a drop). */
  dispatchEvent(selector, type, init = {}) {
    return this.page.$eval(selector, (element, type, dataTransfer) => {
      const Kind = dataTransfer ? DragEvent : Event;
      element.dispatchEvent(new Kind(type, { bubbles: true, cancelable: true, ...(dataTransfer ? { dataTransfer } : {}) }));
    }, type, init.dataTransfer);
  }

  waitForFunction(fn, arg, options) {
    return this.page.waitForFunction(fn, { ...timeoutOf(options), polling: 100 }, arg);
  }

  // Playwright waits for a visible element by default.
  waitForSelector(selector, options) {
    return this.page.waitForFunction(seen, { ...timeoutOf(options), polling: 100 }, selector, options?.state ?? 'visible');
  }

  waitForTimeout(ms) {
    return new Promise((done) => setTimeout(done, ms));
  }

  // Playwright's `text=…` is puppeteer's `::-p-text(…)`.
  click(selector) {
    return this.page.click(selector.startsWith('text=') ? `::-p-text(${selector.slice(5)})` : selector);
  }

  /** Paths, or Playwright's `{name, buffer}` (written to a file first). */
  async setInputFiles(selector, files) {
    const paths = [files].flat().map((file) => {
      if (typeof file === 'string') return file;
      const path = join(mkdtempSync(join(tmpdir(), 'wav2lip-upload-')), file.name);
      writeFileSync(path, file.buffer);
      return path;
    });
    const input = await this.page.$(selector);
    await input.evaluate((element) => {
      element.value = '';
    });
    await input.uploadFile(...paths);
  }

  selectOption(selector, value) {
    return this.page.select(selector, value);
  }

  isDisabled(selector) {
    return this.page.$eval(selector, (element) => element.disabled);
  }

  async check(selector) {
    if (!(await this.page.$eval(selector, (element) => element.checked))) await this.page.click(selector);
  }

  async uncheck(selector) {
    if (await this.page.$eval(selector, (element) => element.checked)) await this.page.click(selector);
  }

  fill(selector, value) {
    return this.locator(selector).fill(value);
  }

  locator(selector) {
    const page = this.page;
    const on = (fn, arg) => page.$eval(selector, fn, arg);
    const locator = {
      textContent: () => on((element) => element.textContent),
      innerText: () => on((element) => element.innerText),
      getAttribute: (name) => on((element, name) => element.getAttribute(name), name),
      isEnabled: () => on((element) => !element.disabled),
      isDisabled: () => on((element) => element.disabled),
      isVisible: () => page.evaluate(seen, selector, 'visible'),
      isHidden: () => page.evaluate(seen, selector, 'hidden'),
      waitFor: (options) => this.waitForSelector(selector, options),
      // Only `hasText` (a RegExp), then `waitFor`: visible, and its text matching.
      filter: ({ hasText }) => ({
        waitFor: (options) => page.waitForFunction(seen, { ...timeoutOf(options), polling: 100 }, selector, 'visible', hasText.source, hasText.flags),
      }),
      evaluate: (fn, arg) => on(fn, arg),
      fill: (value) => on((element, value) => {
        element.value = value;
        element.dispatchEvent(new Event('input', { bubbles: true }));
        element.dispatchEvent(new Event('change', { bubbles: true }));
      }, value),
    };
    return locator;
  }

  /**
   * 'load': the next page load. 'download': the next click's download link
   * (`a[download]`), read in the page: `{suggestedFilename(), saveAs(path)}`.
   */
  async waitForEvent(event, options) {
    if (event === 'load') return this.page.waitForNavigation({ ...timeoutOf(options), waitUntil: 'load' });
    if (event !== 'download') throw new Error(`FirefoxPage cannot wait for '${event}'`);
    const link = await this.page.evaluateHandle(() => new Promise((resolve) => {
      const heard = (e) => {
        const a = e.target.closest?.('a[download]');
        if (!a) return;
        // The test saves it; Firefox would ask where.
        e.preventDefault();
        document.removeEventListener('click', heard, { capture: true });
        resolve(a);
      };
      document.addEventListener('click', heard, { capture: true });
    }));
    const { name, base64 } = await link.evaluate(async (a) => {
      const bytes = new Uint8Array(await (await fetch(a.href)).arrayBuffer());
      let binary = '';
      for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
      return { name: a.download, base64: btoa(binary) };
    });
    const bytes = Buffer.from(base64, 'base64');
    return {
      suggestedFilename: () => name,
      saveAs: async (path) => writeFileSync(path, bytes),
      async path() {
        const path = join(mkdtempSync(join(tmpdir(), 'wav2lip-download-')), name);
        writeFileSync(path, bytes);
        return path;
      },
    };
  }
}
