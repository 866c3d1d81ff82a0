// Browser figures for the audio front end: the wasm core's mel spectrogram of
// 60 s of audio (PCM pushed in 100 ms pieces, as the decoder delivers it), and
// the page's whole path for a 60 s WAV file (decode in the worker + mel).
// Not a test: it prints numbers.
//
//   node tests/bench/audio.mjs            (SECONDS=60 RUNS=5)
import { openApp, backendOf, statusState } from '../e2e/harness.mjs';
import { wav16 } from '../e2e/wav.mjs';

const seconds = Number(process.env.SECONDS ?? 60);
const runs = Number(process.env.RUNS ?? 5);

const app = await openApp('/?backend=cpu');
try {
  await backendOf(app.page);
  const core = await app.page.evaluate(async ({ seconds, runs }) => {
    const wasm = await import('/www/pkg/wav2lip.js');
    await wasm.default();
    const lines = [];
    for (const [rate, channels] of [[16000, 1], [44100, 2], [48000, 2]]) {
      const frames = rate / 10;
      const piece = new Float32Array(frames * channels).map((_, i) => {
        const t = Math.floor(i / channels) / rate;
        return 0.3 * Math.sin(2 * Math.PI * (200 + 3000 * t) * t) + 0.1 * Math.sin(i * 12.9898);
      });
      const times = [];
      for (let r = 0; r < runs; r++) {
        const start = performance.now();
        wasm.voiceStart(rate, channels);
        for (let p = 0; p < seconds * 10; p++) wasm.voicePush(piece);
        wasm.voiceFinish();
        times.push(performance.now() - start);
      }
      times.sort((a, b) => a - b);
      const median = times[Math.floor(times.length / 2)];
      lines.push(`wasm mel of ${seconds} s at ${rate / 1000} kHz x ${channels}: ${median.toFixed(1)} ms (median of ${runs}), ${(seconds * 1000 / median).toFixed(0)}x real time`);
    }
    return lines;
  }, { seconds, runs });
  core.forEach((line) => console.log(line));

  // The page's path: a WAV file chosen in the page, decoded by mediabunny in the worker.
  const rate = 44100;
  const samples = new Int16Array(seconds * rate * 2).map((_, i) => 8000 * Math.sin(i * 0.01) + 2000 * Math.sin(i * 1.3));
  await app.page.setInputFiles('#voice-file', { name: 'minute.wav', mimeType: 'audio/wav', buffer: wav16(samples, rate, 2) });
  await statusState(app.page, '#voice-status', ['ready', 'error']);
  const report = await app.page.evaluate(() => window.wav2lip.call('loadVoice', { file: document.querySelector('#voice-file').files[0] }));
  console.log(`page: ${seconds} s WAV (44.1 kHz stereo, ${(samples.byteLength / 1e6).toFixed(1)} MB) decoded and heard in ${(report.seconds * 1000).toFixed(0)} ms`);
} finally {
  await app.close();
}
