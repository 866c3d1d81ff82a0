// Browser figures for face detection: ms per 1280×720 frame through the
// worker (RGBA in, faces out), on the CPU path. Not a test: it prints numbers.
//
//   node tests/bench/detect.mjs            (RUNS=20 BACKENDS=cpu)
import { openApp, backendOf } from '../e2e/harness.mjs';

const runs = Number(process.env.RUNS ?? 20);
const backends = (process.env.BACKENDS ?? 'cpu').split(',');

for (const backend of backends) {
  const app = await openApp(`/?backend=${backend}`);
  try {
    await backendOf(app.page);
    const times = await app.page.evaluate(async (runs) => {
      const photo = new Image();
      photo.src = '/tests/fixtures/astronaut.png';
      await photo.decode();
      const canvas = new OffscreenCanvas(1280, 720);
      const g = canvas.getContext('2d');
      g.drawImage(photo, -35, -24, 1536, 1536);
      const { data } = g.getImageData(0, 0, 1280, 720);
      const call = () => window.wav2lip.call('detectFaces', { pixels: new Uint8Array(data.buffer.slice(0)), width: 1280, height: 720 });
      await call(); // loads the weights and warms up
      const times = [];
      for (let i = 0; i < runs; i++) {
        const started = performance.now();
        await call();
        times.push(performance.now() - started);
      }
      return times.sort((a, b) => a - b);
    }, runs);
    console.log(`detect in the page, ${backend}, 1280x720: ${times[Math.floor(times.length / 2)].toFixed(1)} ms/frame (median of ${runs}; best ${times[0].toFixed(1)})`);
  } finally {
    await app.close();
  }
}
