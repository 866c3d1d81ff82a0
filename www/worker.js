// Hosts the wasm core. Messages {id, method, args} in, {id, result | error} out,
// handled one at a time: the core owns one device and one job.
import init, * as core from './pkg/wav2lip.js';

const ready = init();

/** The WebGPU adapter the browser would give us, as a plain object, or null. */
async function adapterInfo() {
  if (!navigator.gpu) return null;
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) return null;
  const info = adapter.info ?? {};
  return {
    vendor: info.vendor ?? '',
    architecture: info.architecture ?? '',
    device: info.device ?? '',
    description: info.description ?? '',
    // Moved from GPUAdapter to GPUAdapterInfo in 2025; read both.
    isFallbackAdapter: Boolean(info.isFallbackAdapter ?? adapter.isFallbackAdapter),
  };
}

const methods = {
  async start({ backend = 'auto' }) {
    return core.initBackend(await adapterInfo(), backend);
  },
  async checkConvolution({ backend = 'active' }) {
    return core.checkConvolution(backend);
  },
};

let queue = Promise.resolve();

self.onmessage = ({ data: { id, method, args } }) => {
  queue = queue.then(async () => {
    try {
      await ready;
      const handler = methods[method];
      if (!handler) throw new Error(`the core has no method "${method}"`);
      self.postMessage({ id, result: await handler(args) });
    } catch (error) {
      self.postMessage({ id, error: error?.message ?? String(error) });
    }
  });
};
