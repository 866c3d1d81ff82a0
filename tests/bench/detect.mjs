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
      // Each call moves a fresh copy of the frame to the worker, as the app does.
      const call = () => {
        const pixels = data.slice();
        return window.wav2lip.call('detectFaces', { pixels, width: 1280, height: 720 }, [pixels.buffer]);
      };
      await call(); // loads the weights and warms up
      const trips = [];
      const cores = [];
      for (let i = 0; i < runs; i++) {
        const started = performance.now();
        const { seconds } = await call();
        trips.push(performance.now() - started);
        cores.push(seconds * 1000);
      }
      return { trips: trips.sort((a, b) => a - b), cores: cores.sort((a, b) => a - b) };
    }, runs);
    const median = (list) => list[Math.floor(list.length / 2)].toFixed(1);
    console.log(`detect in the page, ${backend}, 1280x720: core ${median(times.cores)} ms/frame (best ${times.cores[0].toFixed(1)}), round trip from the page ${median(times.trips)} ms (median of ${runs})`);
  } finally {
    await app.close();
  }
}
