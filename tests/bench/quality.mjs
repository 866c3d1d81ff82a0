// What each picture-quality setting gives where the model does not touch the
// frame: the PSNR of the output against the input away from the face (the
// face's crop, grown by a quarter, and the label's corner left out), the
// file's size and its bitrate against the input's. Not a test: it prints a
// table.
//
//   node tests/bench/quality.mjs [CLIP.mp4 ...]   (default: the test clip, and it at 1280×720;
//                                                  clips must lie in the generated media folder)
import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { GENERATED, openApp, backendOf, modelState, saved, statusState } from '../e2e/harness.mjs';

const talking = join(GENERATED, 'talking.mp4');
const hd = join(GENERATED, 'talking-720p.mp4');
if (!existsSync(hd)) {
  execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-i', talking, '-vf', 'scale=1280:720',
    '-c:v', 'libx264', '-preset', 'veryfast', '-crf', '18', '-c:a', 'copy', hd]);
}
const clips = process.argv.length > 2 ? process.argv.slice(2) : [talking, hd];
const SETTINGS = ['standard', 'high', 'near-lossless'];

/** PSNR away from the face and the label, per frame pair, decoded in the page. */
function measure(page, made, original) {
  return page.evaluate(async ([madeUrl, originalUrl]) => {
    const { ALL_FORMATS, BlobSource, CanvasSink, Input } = await import('/www/lib/mediabunny.js');
    const frames = async (url) => {
      const blob = await (await fetch(url)).blob();
      const input = new Input({ source: new BlobSource(blob), formats: ALL_FORMATS });
      const track = await input.getPrimaryVideoTrack();
      const list = [];
      for await (const { canvas } of new CanvasSink(track, { poolSize: 0 }).canvases()) {
        list.push(canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height));
      }
      return list;
    };
    const out = await frames(madeUrl);
    const src = await frames(originalUrl);
    let squared = 0;
    let count = 0;
    for (let f = 0; f < Math.min(out.length, src.length); f++) {
      const { width, height, data } = src[f];
      const { faces } = await window.wav2lip.call('detectFaces', { pixels: new Uint8Array(data.buffer), width, height });
      const [x1, y1, x2, y2] = faces[0].crop;
      const grow = [(x2 - x1) / 4, (y2 - y1) / 4];
      const skip = (x, y) => (x > x1 - grow[0] && x < x2 + grow[0] && y > y1 - grow[1] && y < y2 + grow[1])
        || (x > width * 0.6 && y > height * 0.8);
      const a = out[f].data;
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) {
          if (skip(x, y)) continue;
          const i = (y * width + x) * 4;
          for (let c = 0; c < 3; c++) squared += (a[i + c] - data[i + c]) ** 2;
          count += 3;
        }
      }
    }
    return 10 * Math.log10((255 * 255) / (squared / count));
  }, [made, original]);
}

const app = await openApp('/?backend=cpu');
const { page } = app;
try {
  await backendOf(page);
  await page.evaluate(() => { document.querySelector('#options').open = true; });
  await page.setInputFiles('#model-file', join(GENERATED, 'formula7.pth'));
  await modelState(page, 'ready', 600_000);
  const rows = [];
  for (const clip of clips) {
    await page.setInputFiles('#face-file', clip);
    await statusState(page, '#face-status', 'ready');
    await page.setInputFiles('#voice-file', clip);
    await statusState(page, '#voice-status', 'ready');
    for (const setting of SETTINGS) {
      await page.selectOption('#quality', setting);
      await page.click('#run');
      const done = await statusState(page, '#run-status', ['ready', 'error'], 1_800_000);
      if (!/^Done/.test(done)) throw new Error(done);
      const made = await saved(page);
      const psnr = await measure(page, made.url, `/generated/${relative(GENERATED, clip)}`);
      const size = statSync(made.path).size;
      rows.push(`| ${basename(clip)} | ${setting} | ${psnr.toFixed(1)} | ${(size / 1e3).toFixed(0)} | ${(size / statSync(clip).size).toFixed(2)} | ${done.match(/, (\w+) \(/)?.[1]} |`);
      console.log(rows.at(-1));
    }
  }
  console.log('\n| clip | quality | PSNR away from the face (dB) | size (kB) | size / input | codec |\n|---|---|---|---|---|---|');
  console.log(rows.join('\n'));
} finally {
  await app.close();
}
