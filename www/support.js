// What this browser lacks that the app cannot do without, said in one
// sentence before anything else starts (instead of a raw exception later).

// The smallest module using a 128-bit SIMD instruction (the core's CPU
// loops need wasm SIMD): valid only where the browser has it.
const SIMD_MODULE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]);

/** What is missing, as phrases (empty where the app can run). */
export function missing() {
  const lacks = [];
  if (typeof WebAssembly !== 'object') lacks.push('WebAssembly');
  else if (!WebAssembly.validate(SIMD_MODULE)) lacks.push('WebAssembly SIMD');
  if (typeof Worker !== 'function') lacks.push('web workers');
  if (typeof OffscreenCanvas !== 'function') lacks.push('OffscreenCanvas');
  const codecs = ['VideoDecoder', 'VideoEncoder', 'AudioEncoder'].filter((name) => typeof self[name] !== 'function');
  if (codecs.length) lacks.push(`WebCodecs (${codecs.join(', ')}), for reading and writing video`);
  return lacks;
}

/** The sentence for a browser that lacks `lacks`. */
export function unsupported(lacks) {
  return `This browser cannot run the app: it lacks ${lacks.join(' and ')}. Use a recent Chrome, Edge or Firefox (the browsers it is tested in; see the README).`;
}
