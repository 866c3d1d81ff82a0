// The face input in the page: a photo or a video is opened by the worker
// (mediabunny + WebCodecs for videos), its first picture is shown with the
// faces found, and a click chooses who speaks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openApp, backendOf, statusState } from './harness.mjs';

const PHOTO = new URL('../fixtures/astronaut.png', import.meta.url).pathname;

async function open(page, file) {
  await page.setInputFiles('#face-file', file);
  return statusState(page, '#face-status', ['ready', 'error'], 120_000);
}

/**
 * A picture made in the page: a w×h canvas filled with `fill`, the photo
 * drawn at each of `photos` (drawImage's 8 numbers); as PNG, or as a short
 * VP8 WebM video.
 */
async function made(page, { width, height, fill, photos = [], video = false }) {
  const bytes = await page.evaluate(async ({ width, height, fill, photos, video }) => {
    const photo = await createImageBitmap(await (await fetch('/tests/fixtures/astronaut.png')).blob());
    const canvas = new OffscreenCanvas(width, height);
    const g = canvas.getContext('2d');
    g.fillStyle = fill;
    g.fillRect(0, 0, width, height);
    for (const at of photos) g.drawImage(photo, ...at);
    if (!video) return Array.from(new Uint8Array(await (await canvas.convertToBlob({ type: 'image/png' })).arrayBuffer()));
    const mb = await import('/www/lib/mediabunny.js');
    const output = new mb.Output({ format: new mb.WebMOutputFormat(), target: new mb.BufferTarget() });
    const source = new mb.CanvasSource(canvas, { codec: 'vp8', quality: mb.QUALITY_HIGH });
    output.addVideoTrack(source, { frameRate: 25 });
    await output.start();
    for (let i = 0; i < 10; i++) await source.add(i / 25, 1 / 25);
    await output.finalize();
    return Array.from(new Uint8Array(output.target.buffer));
  }, { width, height, fill, photos, video });
  return Buffer.from(bytes);
}

// The photo's face region, as drawImage's source rectangle.
const photo100 = [100, 60, 300, 300];

const chosen = (page) => page.$eval('#face-preview', (c) => c.dataset.chosen ?? '0');

test('a photo or video shows its first picture with the faces; a click chooses', async () => {
  const app = await openApp();
  try {
    await backendOf(app.page);
    // The photo: one face, shown at its own size.
    const one = await open(app.page, PHOTO);
    assert.match(one, /^Face: astronaut\.png, photo 512×512: one face found/);
    assert.deepEqual(await app.page.$eval('#face-preview', (c) => [c.hidden, c.width, c.height]), [false, 512, 512]);

    // Two people side by side: both boxed; clicking the right one chooses it.
    const pair = await made(app.page, { width: 1280, height: 720, fill: '#555', photos: [[photo100, 0], [photo100, 640]].map(([a, x]) => [...a, x, 0, 640, 640]) });
    const two = await open(app.page, { name: 'two people.png', mimeType: 'image/png', buffer: pair });
    assert.match(two, /2 faces found\. Click the one who speaks/);
    const box = await app.page.$eval('#face-preview', (c) => {
      c.scrollIntoView();
      return c.getBoundingClientRect().toJSON();
    });
    // The right-hand face: three quarters across, a third down the frame.
    await app.page.mouse.click(box.x + box.width * 0.78, box.y + box.height * 0.3);
    const right = Number(await chosen(app.page));
    await app.page.mouse.click(box.x + box.width * 0.28, box.y + box.height * 0.3);
    const left = Number(await chosen(app.page));
    assert.notEqual(right, left, `clicks chose ${right} then ${left}`);

    // No face: said plainly, and the picture still shown.
    const blank = await made(app.page, { width: 320, height: 240, fill: '#8a9' });
    const none = await open(app.page, { name: 'wall.png', mimeType: 'image/png', buffer: blank });
    assert.match(none, /No face found in this photo: lip sync needs a visible face/);
    assert.deepEqual(await app.page.$eval('#face-preview', (c) => [c.hidden, c.width]), [false, 320]);

    // A video (VP8 in WebM, made here): its first frame.
    const clip = await made(app.page, { width: 640, height: 360, video: true, fill: '#333', photos: [[...photo100, 160, 15, 330, 330]] });
    const video = await open(app.page, { name: 'take 2 (final).webm', mimeType: 'video/webm', buffer: clip });
    assert.match(video, /^Face: take 2 \(final\)\.webm, video 640×360: one face found/);

    // Not a picture at all: a clear error, and the page still works after.
    const bad = await open(app.page, { name: 'face.mp4', mimeType: 'video/mp4', buffer: Buffer.from('this is not a video') });
    assert.match(bad, /face\.mp4: not a video or photo this browser can read/);
    assert.match(await open(app.page, PHOTO), /one face found/);
    assert.deepEqual(app.foreignRequests, []);
  } finally {
    await app.close();
  }
});
