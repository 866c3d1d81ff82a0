// Face Mesh in the core against MediaPipe's own solution: the npm package
// @mediapipe/face_mesh ships the weights we read and MediaPipe's JS+wasm
// graph, which is the ground truth here. Frames: astronaut.png as it is and
// turned by ±20° in a 720p frame, and frames of the test clip.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openApp, backendOf } from './harness.mjs';
import { ours, referencePage } from './frames.mjs';

const FRAMES = [
  { name: 'photo', width: 512, height: 512, scale: 1, x: 0, y: 0, angle: 0 },
  { name: '720p', width: 1280, height: 720, scale: 2.5, x: 78, y: 40, angle: 0 },
  { name: '720p, turned +20°', width: 1280, height: 720, scale: 2.5, x: 78, y: 40, angle: 20 },
  { name: '720p, turned -20°', width: 1280, height: 720, scale: 2.5, x: 78, y: 40, angle: -20 },
  ...[0, 24, 49].map((clip) => ({ name: `talking.mp4, frame ${clip}`, width: 640, height: 360, clip })),
];

/** MediaPipe's 468 points for each frame (image pixels), and the frames as PNG data URLs. */
async function reference(app) {
  const mediapipe = await referencePage(app, '/node_modules/@mediapipe/face_mesh/face_mesh.js', FRAMES);
  try {
    const meshes = await mediapipe.page.evaluate(async (frames) => {
      const solution = new FaceMesh({ locateFile: (file) => `/node_modules/@mediapipe/face_mesh/${file}` });
      solution.setOptions({ maxNumFaces: 1, refineLandmarks: false });
      let found;
      solution.onResults((results) => {
        found = results.multiFaceLandmarks;
      });
      await solution.initialize();
      const out = [];
      for (const [i, f] of frames.entries()) {
        // Forget the last frame's face: the square comes from a new
        // detection, as in the core (no tracking between unrelated frames).
        solution.reset();
        await solution.send({ image: window.testFrames[i] });
        out.push(found.map((points) => points.map(({ x, y }) => [x * f.width, y * f.height])));
      }
      await solution.close();
      return out;
    }, FRAMES);
    return meshes.map((m, i) => ({ meshes: m, png: mediapipe.pngs[i] }));
  } finally {
    await mediapipe.close();
  }
}

const distance = (a, b) => Math.hypot(a[0] - b[0], a[1] - b[1]);

test("the core's face mesh is MediaPipe's: mean point distance ≤ 2 % of the eyes' distance; the pose follows a turned face", async () => {
  const app = await openApp('/?backend=cpu');
  try {
    await backendOf(app.page);
    const truth = await reference(app);
    const rolls = {};
    for (const [i, frame] of FRAMES.entries()) {
      const { meshes } = truth[i];
      const { faces, ms } = await ours(app.page, 'faceMeshes', truth[i].png);
      assert.equal(meshes.length, 1, `${frame.name}: MediaPipe found ${meshes.length} faces`);
      assert.equal(faces.length, 1, `${frame.name}: we found ${faces.length} faces`);
      const [want, got] = [meshes[0], faces[0].landmarks];
      assert.equal(got.length, 468);
      // The eyes' outer corners (points 33 and 263), as in 300-W's measure.
      const eyes = distance(want[33], want[263]);
      const errors = want.map((p, k) => distance(p, got[k]) / eyes);
      const mean = errors.reduce((a, b) => a + b) / errors.length;
      const worst = Math.max(...errors);
      const { yaw, pitch, roll } = faces[0].pose;
      rolls[frame.name] = roll;
      console.log(
        `${frame.name}: mean ${(100 * mean).toFixed(2)} %, worst ${(100 * worst).toFixed(2)} % of ${eyes.toFixed(0)} px; ` +
          `pose yaw ${yaw.toFixed(1)}°, pitch ${pitch.toFixed(1)}°, roll ${roll.toFixed(1)}°; ${ms.toFixed(0)} ms`,
      );
      assert.ok(mean <= 0.02, `${frame.name}: mean distance ${(100 * mean).toFixed(2)} % of the eyes' distance`);
    }
    // The canvas turns the photo clockwise for a positive angle: so does the roll.
    for (const turn of [20, -20]) {
      const change = rolls[`720p, turned ${turn > 0 ? '+' : ''}${turn}°`] - rolls['720p'];
      assert.ok(Math.abs(change - turn) < 3, `turned by ${turn}°, the roll changed by ${change.toFixed(1)}°`);
    }
    assert.deepEqual(app.foreignRequests, []);
  } finally {
    await app.close();
  }
});
