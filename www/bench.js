// The benchmark page: the generator's ms/frame per backend and batch size,
// each backend in a worker of its own (one WebGPU device per worker), the
// median of a few runs after a first call that compiles kernels; the same
// model in ONNX Runtime Web beside it, with the ratio; and the whole
// pipeline on a chosen video and voice.
import { adapterName, Core } from './bridge.js';

// Only where the site serves the repository (make serve); never the app's.
const ORT = '/node_modules/onnxruntime-web/dist/';

const status = document.querySelector('#bench-status');
const rows = document.querySelector('#bench-results tbody');

function say(state, text) {
  status.textContent = text;
  status.dataset.state = state;
}

function device({ backend, adapter, softwareAdapter, simd, threads }, workers) {
  // Threads share one model; helper workers (no shared memory) each hold one.
  const sharing = threads > 1 ? `${workers} threads` : `${workers} worker${workers === 1 ? '' : 's'}`;
  if (backend === 'cpu') return `CPU (WebAssembly, ${simd === 'relaxed' ? 'relaxed SIMD' : 'SIMD'}), ${sharing}`;
  return softwareAdapter ? `${adapterName(adapter)} (software)` : adapterName(adapter);
}

/** A row: `backend` is cpu or webgpu for both engines, so rows pair up. */
function addRow({ engine, backend, adapter, batch, perFrame, first }) {
  const row = rows.insertRow();
  Object.assign(row.dataset, { engine, backend, batch, ms: perFrame.toFixed(2) });
  for (const cell of [engine, backend, adapter, batch, perFrame.toFixed(1), first?.toFixed(0) ?? '', '']) row.insertCell().textContent = cell;
}

/** Median ms/frame over `runs` calls of `once(inputs)`, after a first one. */
async function timeBatch(batch, runs, once) {
  const mel = new Float32Array(batch * 80 * 16).map((_, i) => Math.sin(i));
  const face = new Float32Array(batch * 6 * 96 * 96).map((_, i) => 0.5 + 0.5 * Math.sin(i * 0.7));
  const times = [];
  for (let run = 0; run <= runs; run++) {
    const started = performance.now();
    await once(mel, face, batch);
    times.push(performance.now() - started);
  }
  const [first, ...rest] = times;
  rest.sort((a, b) => a - b);
  return { first, perFrame: rest[Math.floor(rest.length / 2)] / batch };
}

async function benchBackend(backend, { file, batches, runs, pipeline }) {
  const core = new Core();
  try {
    const report = await core.call('start', { backend, simd: new URLSearchParams(location.search).get('simd') });
    if (report.backend !== backend) return say('error', `${backend}: not available here (${report.reason})`);
    const model = file ? await core.call('loadCheckpoint', { file }) : await core.call('loadCachedModel');
    if (!model) throw new Error('no model: choose a checkpoint here, or load one in the app first');
    const adapter = device(report, await core.call('workers'));
    for (const batch of batches) {
      say('loading', `${backend}: batch ${batch}…`);
      const times = await timeBatch(batch, runs, (mel, face) => core.call('generate', { mel, face, batch }));
      addRow({ engine: 'wav2lip', backend, adapter, batch, ...times });
    }
    if (pipeline) {
      say('loading', `${backend}: the whole pipeline…`);
      await core.call('loadVoice', { file: pipeline.voice });
      const options = { pads: { top: 0, bottom: 10, left: 0, right: 0 }, smoothing: 5, resizeFactor: 1 };
      const made = await core.call('lipSync', { face: pipeline.face, voice: pipeline.voice, options, label: true });
      addRow({ engine: 'wav2lip', backend, adapter: `${adapter}; ${made.width}×${made.height}, ${made.frames} frames`, batch: 'pipeline', perFrame: (made.seconds * 1000) / made.frames });
    }
  } finally {
    core.terminate();
  }
}

/** ONNX Runtime Web on `provider` (wasm or webgpu), in this page. */
async function benchOrt(provider, { onnx, batches, runs }) {
  let ort;
  try {
    ort = await import(`${ORT}ort.webgpu.min.mjs`);
  } catch {
    throw new Error('ONNX Runtime Web is not served here: run the page with make serve (npm installs it)');
  }
  ort.env.wasm.wasmPaths = ORT;
  ort.env.wasm.numThreads = navigator.hardwareConcurrency;
  say('loading', `ORT ${provider}: loading the model…`);
  const session = await ort.InferenceSession.create(new Uint8Array(await onnx.arrayBuffer()), { executionProviders: [provider] });
  const backend = provider === 'wasm' ? 'cpu' : 'webgpu';
  const adapter = provider === 'wasm'
    ? `ORT ${ort.env.versions.web} wasm SIMD, ${ort.env.wasm.numThreads} threads${crossOriginIsolated ? '' : ' (not isolated: 1)'}`
    : `ORT ${ort.env.versions.web} WebGPU`;
  try {
    for (const batch of batches) {
      say('loading', `ORT ${provider}: batch ${batch}…`);
      const times = await timeBatch(batch, runs, (mel, face) => session.run({
        mel: new ort.Tensor('float32', mel, [batch, 1, 80, 16]),
        face: new ort.Tensor('float32', face, [batch, 6, 96, 96]),
      }));
      addRow({ engine: 'ort', backend, adapter, batch, ...times });
    }
  } finally {
    await session.release();
  }
}

/** Ours / ORT on each of our rows that has an ORT row of the same backend and batch. */
function ratios() {
  const all = [...rows.rows];
  for (const ours of all.filter((r) => r.dataset.engine === 'wav2lip')) {
    const peer = all.find((r) => r.dataset.engine === 'ort' && r.dataset.backend === ours.dataset.backend && r.dataset.batch === ours.dataset.batch);
    if (!peer) continue;
    const ratio = Number(ours.dataset.ms) / Number(peer.dataset.ms);
    ours.dataset.ratio = ratio.toFixed(3);
    ours.cells[6].textContent = `${ratio.toFixed(2)}×`;
  }
}

document.querySelector('#bench-run').addEventListener('click', async (event) => {
  const button = event.target;
  button.disabled = true;
  rows.replaceChildren();
  const chosen = (id) => document.querySelector(id).files[0];
  const batches = document.querySelector('#bench-batches').value.split(',').map(Number).filter((b) => b > 0);
  const runs = Math.max(1, Number(document.querySelector('#bench-runs').value) || 1);
  const checked = (name) => [...document.querySelectorAll(`input[name=${name}]:checked`)].map((box) => box.value);
  const [face, voice, onnx] = [chosen('#bench-face'), chosen('#bench-voice'), chosen('#bench-onnx')];
  const pipeline = face && voice ? { face, voice } : null;
  try {
    for (const backend of checked('backend')) await benchBackend(backend, { file: chosen('#bench-model'), batches, runs, pipeline });
    if (onnx) for (const provider of checked('ort')) await benchOrt(provider, { onnx, batches, runs });
    ratios();
    say('ready', `Done: ${rows.rows.length} measurements.`);
  } catch (error) {
    say('error', `The benchmark stopped: ${error.message}`);
  } finally {
    button.disabled = false;
  }
});
