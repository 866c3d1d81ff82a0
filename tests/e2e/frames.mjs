// Test frames for the face models, drawn in the browser, and a page where
// MediaPipe's own JS solutions (the ground truth) run on them.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const CLIP = join(process.env.WAV2LIP_FIXTURES ?? join(homedir(), '.cache/wav2lip/fixtures'), 'talking.mp4');

/**
 * A page that ignores the app's CSP (MediaPipe's solutions evaluate strings
 * as code, which the app forbids), with MediaPipe's `script` loaded and
 * `frames` drawn into `window.testFrames` (canvases): astronaut.png scaled,
 * shifted and turned on grey ({width, height, scale, x, y, angle}), or a
 * frame of the test clip decoded as the app decodes it ({width, height,
 * clip}). Resolves to {page, pngs, close}: the frames as PNG data URLs, for
 * the core.
 */
export async function referencePage(app, script, frames) {
  const context = await app.page.context().browser().newContext({ bypassCSP: true });
  const page = await context.newPage();
  await page.goto(`${app.origin}/tests/fixtures/astronaut.png`);
  await page.addScriptTag({ url: script });
  const pngs = await page.evaluate(async ([frames, clipBytes]) => {
    const photo = document.querySelector('img');
    await photo.decode();
    const { ALL_FORMATS, BlobSource, CanvasSink, Input } = await import('/www/lib/mediabunny.js');
    const input = new Input({ source: new BlobSource(new Blob([new Uint8Array(clipBytes)])), formats: ALL_FORMATS });
    const clip = [];
    for await (const { canvas } of new CanvasSink(await input.getPrimaryVideoTrack(), { poolSize: 0 }).canvases()) clip.push(canvas);
    window.testFrames = frames.map((f) => {
      const canvas = Object.assign(document.createElement('canvas'), { width: f.width, height: f.height });
      const g = canvas.getContext('2d');
      if (f.clip !== undefined) {
        g.drawImage(clip[f.clip], 0, 0);
      } else {
        g.fillStyle = '#7a8a99';
        g.fillRect(0, 0, f.width, f.height);
        const side = 512 * f.scale;
        g.translate(f.x + side / 2, f.y + side / 2);
        g.rotate((f.angle * Math.PI) / 180);
        g.drawImage(photo, -side / 2, -side / 2, side, side);
      }
      return canvas;
    });
    return window.testFrames.map((canvas) => canvas.toDataURL('image/png'));
  }, [frames, Array.from(readFileSync(CLIP))]);
  return { page, pngs, close: () => context.close() };
}

/** The core's answer (`call`: a worker call taking RGBA pixels) for a PNG data URL, and its time. */
export async function ours(page, call, png) {
  return page.evaluate(
    async ([call, png]) => {
      const img = new Image();
      img.src = png;
      await img.decode();
      const canvas = new OffscreenCanvas(img.naturalWidth, img.naturalHeight);
      const g = canvas.getContext('2d');
      g.drawImage(img, 0, 0);
      const { data, width, height } = g.getImageData(0, 0, canvas.width, canvas.height);
      const started = performance.now();
      const { faces } = await window.wav2lip.call(call, { pixels: new Uint8Array(data.buffer), width, height }, [data.buffer]);
      return { faces, ms: performance.now() - started };
    },
    [call, png],
  );
}
