// The benchmark page: the generator's ms/frame per backend and batch size,
// each backend in a worker of its own (one WebGPU device per worker), the
// median of a few runs after a first call that compiles kernels.
import { adapterName, Core } from './bridge.js';

const status = document.querySelector('#bench-status');
const rows = document.querySelector('#bench-results tbody');

function say(state, text) {
  status.textContent = text;
  status.dataset.state = state;
}

function device({ backend, adapter, softwareAdapter }) {
  if (backend === 'cpu') return 'CPU (WebAssembly)';
  return softwareAdapter ? `${adapterName(adapter)} (software)` : adapterName(adapter);
}

async function timeBatch(core, batch, runs) {
  const mel = new Float32Array(batch * 80 * 16).map((_, i) => Math.sin(i));
  const face = new Float32Array(batch * 6 * 96 * 96).map((_, i) => 0.5 + 0.5 * Math.sin(i * 0.7));
  const times = [];
  for (let run = 0; run <= runs; run++) {
    const started = performance.now();
    await core.call('generate', { mel, face, batch });
    times.push(performance.now() - started);
  }
  const [first, ...rest] = times;
  rest.sort((a, b) => a - b);
  return { first, perFrame: rest[Math.floor(rest.length / 2)] / batch };
}

async function benchBackend(backend, { file, batches, runs }) {
  const core = new Core();
  try {
    const report = await core.call('start', { backend });
    if (report.backend !== backend) return say('error', `${backend}: not available here (${report.reason})`);
    const model = file ? await core.call('loadCheckpoint', { file }) : await core.call('loadCachedModel');
    if (!model) throw new Error('no model: choose a checkpoint here, or load one in the app first');
    for (const batch of batches) {
      say('loading', `${backend}: batch ${batch}…`);
      const { first, perFrame } = await timeBatch(core, batch, runs);
      const row = rows.insertRow();
      Object.assign(row.dataset, { backend, batch, ms: perFrame.toFixed(2) });
      for (const cell of [backend, device(report), batch, perFrame.toFixed(1), first.toFixed(0)]) row.insertCell().textContent = cell;
    }
  } finally {
    core.terminate();
  }
}

document.querySelector('#bench-run').addEventListener('click', async (event) => {
  const button = event.target;
  button.disabled = true;
  rows.replaceChildren();
  const [file] = document.querySelector('#bench-model').files;
  const batches = document.querySelector('#bench-batches').value.split(',').map(Number).filter((b) => b > 0);
  const runs = Math.max(1, Number(document.querySelector('#bench-runs').value) || 1);
  const backends = [...document.querySelectorAll('input[name=backend]:checked')].map((box) => box.value);
  try {
    for (const backend of backends) await benchBackend(backend, { file, batches, runs });
    say('ready', `Done: ${rows.rows.length} measurements.`);
  } catch (error) {
    say('error', `The benchmark stopped: ${error.message}`);
  } finally {
    button.disabled = false;
  }
});
