// Face detection in the core against MediaPipe's own solution: the npm
// package @mediapipe/face_detection ships the BlazeFace weights we read and
// MediaPipe's JS+wasm graph, which is the ground truth here for the
// full-range model's one look at a whole frame (the search's first step;
// the small faces the rest of the search finds are the native tests' and
// the wide-shot page test's). Test frames are
// astronaut.png as it is, and drawn into 1280×720 frames scaled, shifted and
// rotated by ±15°, made on a canvas in the browser; and frames of the app's
// test clip (scripts/test-clips.sh: an ffmpeg pan and zoom, H.264).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openApp, backendOf } from './harness.mjs';
import { ours, referencePage } from './frames.mjs';

const FRAMES = [
  { name: 'photo', width: 512, height: 512, scale: 1, x: 0, y: 0, angle: 0 },
  // Close-ups (the photo drawn 2.2–3×). Not a wide shot: where one look
  // shrinks the frame tenfold (a 150-px face in 1080p, near the model's
  // limit) MediaPipe's solution, which scales the frame on the GPU first,
  // and our bilinear sampling see different pixels (IoU 0.84, score 0.72);
  // the search looks at such faces through tiles instead.
  { name: '720p, centred', width: 1280, height: 720, scale: 3, x: -35, y: -24, angle: 0 },
  { name: '720p, smaller and shifted', width: 1280, height: 720, scale: 2.2, x: 405, y: 119, angle: 0 },
  { name: '720p, rotated +15°', width: 1280, height: 720, scale: 3, x: -35, y: -24, angle: 15 },
  { name: '720p, rotated -15°', width: 1280, height: 720, scale: 3, x: -35, y: -24, angle: -15 },
  ...[0, 12, 24, 36, 49].map((clip) => ({ name: `talking.mp4, frame ${clip}`, width: 640, height: 360, clip })),
];

function iou(a, b) {
  const w = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const h = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const inter = w * h;
  return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter);
}

/** MediaPipe's boxes for each frame, and the frames as PNG data URLs. */
async function reference(app) {
  const mediapipe = await referencePage(app, '/node_modules/@mediapipe/face_detection/face_detection.js', FRAMES);
  try {
    const boxes = await mediapipe.page.evaluate(async (frames) => {
      // The solution's full-range graph runs the sparse model; the core
      // runs the dense one (same anchors and decoding, fewer operators to
      // support), so the solution is handed the dense one under the sparse
      // one's name: the same weights on both sides.
      const solution = new FaceDetection({ locateFile: (file) => `/node_modules/@mediapipe/face_detection/${file.replace('_sparse', '')}` });
      // Naming the model, and only that, matters: otherwise the solution's
      // graph fails to open (its detection options lose num_classes).
      // The score threshold stays at MediaPipe's default, 0.5.
      solution.setOptions({ model: 'full' });
      let detections;
      solution.onResults((results) => {
        detections = results.detections;
      });
      await solution.initialize();
      const out = [];
      for (const [i, f] of frames.entries()) {
        await solution.send({ image: window.testFrames[i] });
        out.push(
          detections.map(({ boundingBox: b }) => [
            (b.xCenter - b.width / 2) * f.width,
            (b.yCenter - b.height / 2) * f.height,
            (b.xCenter + b.width / 2) * f.width,
            (b.yCenter + b.height / 2) * f.height,
          ]),
        );
      }
      await solution.close();
      return out;
    }, FRAMES);
    return boxes.map((b, i) => ({ boxes: b, png: mediapipe.pngs[i] }));
  } finally {
    await mediapipe.close();
  }
}

test("the core finds the faces MediaPipe's own solution finds, with IoU ≥ 0.9", async () => {
  const app = await openApp('/?backend=cpu');
  try {
    await backendOf(app.page);
    const truth = await reference(app);
    for (const [i, frame] of FRAMES.entries()) {
      const { boxes } = truth[i];
      const { faces, ms } = await ours(app.page, 'detectFacesWhole', truth[i].png);
      assert.equal(boxes.length, 1, `${frame.name}: MediaPipe found ${boxes.length} faces`);
      assert.equal(faces.length, 1, `${frame.name}: we found ${faces.length} faces`);
      const overlap = iou(faces[0].box, boxes[0]);
      const [x1, y1, x2, y2] = faces[0].box.map(Math.round);
      console.log(`${frame.name}: IoU ${overlap.toFixed(4)}, box ${x1},${y1}–${x2},${y2}, score ${faces[0].score.toFixed(3)}, crop ${faces[0].crop.join(',')}, ${ms.toFixed(0)} ms`);
      assert.ok(overlap >= 0.9, `${frame.name}: IoU ${overlap}`);
      const [cx1, cy1, cx2, cy2] = faces[0].crop;
      assert.ok(cx1 <= x1 && cy1 <= y1 && cx2 >= x2 && cy2 >= y2, `${frame.name}: the crop holds the face box`);
    }
    assert.deepEqual(app.foreignRequests, []);
  } finally {
    await app.close();
  }
});

test('a frame without a face has none, and a blank frame is fine', async () => {
  const app = await openApp('/?backend=cpu');
  try {
    await backendOf(app.page);
    const { faces } = await app.page.evaluate(() => window.wav2lip.call('detectFaces', { pixels: new Uint8Array(320 * 240 * 4).fill(200), width: 320, height: 240 }));
    assert.deepEqual(faces, []);
    const wrong = await app.page.evaluate(() => window.wav2lip.call('detectFaces', { pixels: new Uint8Array(10), width: 320, height: 240 }).catch((e) => e.message));
    assert.match(wrong, /320×240 pixels needs 307200 RGBA bytes, got 10/);
  } finally {
    await app.close();
  }
});
