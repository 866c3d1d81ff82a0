// The page: starts the core and shows what it runs on.
import { Core } from './bridge.js';

const status = document.querySelector('#backend');

function describe({ backend, reason, adapter, softwareAdapter }) {
  const engine = backend === 'webgpu' ? 'WebGPU' : 'CPU (WebAssembly)';
  const lines = [`Compute: ${engine} — ${reason}.`];
  if (adapter) {
    const name = [adapter.vendor, adapter.architecture, adapter.description].filter(Boolean).join(' / ');
    lines.push(`WebGPU adapter: ${name || 'unnamed'}${softwareAdapter ? ' (software adapter)' : ''}`);
  } else {
    lines.push('WebGPU adapter: none');
  }
  return lines;
}

async function main() {
  const core = new Core();
  // ?backend=webgpu|cpu overrides the automatic choice (tests, troubleshooting).
  const backend = new URLSearchParams(location.search).get('backend') ?? 'auto';
  try {
    const report = await core.call('start', { backend });
    status.replaceChildren(...describe(report).map((line) => Object.assign(document.createElement('p'), { textContent: line })));
    status.dataset.backend = report.backend;
  } catch (error) {
    status.textContent = `The core could not start: ${error.message}`;
    status.dataset.backend = 'error';
  }
  window.wav2lip = core; // for the console and the end-to-end tests
}

main();
